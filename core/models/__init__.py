"""Segmentation architectures behind one name -> constructor registry, plus safe checkpoints.

The registry is imported lazily so ``core.models.describe`` (metadata, no torch) stays importable in
the slim ONNX-only build.
"""

from __future__ import annotations

from typing import Any

__all__ = ["build_model", "model_names", "register_model"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from core.models import registry

        return getattr(registry, name)
    raise AttributeError(f"module 'core.models' has no attribute {name!r}")
