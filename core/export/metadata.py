"""The exporter's view of the inference description, which lives in ``core.models.describe`` (below
both ``core.infer`` and ``core.train``, so inference never imports the exporter). Kept as a name for
existing importers; new code imports ``core.models.describe``."""

from __future__ import annotations

from core.models.describe import (
    FORMAT,
    KEYS,
    REQUIRED,
    VERSION,
    from_props,
    inference_meta,
    input_policy,
    to_props,
)

__all__ = ["FORMAT", "KEYS", "REQUIRED", "VERSION", "from_props", "inference_meta", "input_policy", "to_props"]
