"""Read back a run's ``metrics.csv`` (one row per epoch, written by ``core.train.loop``) so the curves of
a past run can be drawn again from the model library."""

from __future__ import annotations

import csv
import math
from pathlib import Path

MAX_BYTES = 5_000_000   # a metrics file is a few KB; anything larger is not ours


def read_metrics(path: str | Path) -> list[dict[str, float]]:
    """The epoch rows of ``path`` as floats (cells that are empty or not numbers are left out); [] when the
    file is missing, unreadable or too large: a model without curves is not an error."""
    p = Path(path)
    try:
        if p.stat().st_size > MAX_BYTES:
            return []
        text = p.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    rows = []
    for raw in csv.DictReader(text.splitlines()):
        row = {}
        for key, value in raw.items():
            try:
                number = float(value)
            except (TypeError, ValueError):
                continue
            if key and math.isfinite(number):
                row[key] = number
        if row:
            rows.append(row)
    return rows


def run_metrics(model_file: str | Path | None) -> list[dict[str, float]]:
    """The curves of the run that produced ``model_file`` (its ``metrics.csv`` lies beside it)."""
    return read_metrics(Path(model_file).parent / "metrics.csv") if model_file else []


def val_trained(model_file: str | Path | None) -> bool:
    """Whether the run's validation images trained too (``Recipe.val_trains``, ADR 0015): its "val" curves
    are then a fit to training images, not a held-out figure. False when the checkpoint says nothing."""
    import json

    if not model_file:
        return False
    from core.models.checkpoint import checkpoint_paths
    from core.models.describe import trained_splits

    try:
        sidecar = json.loads(checkpoint_paths(model_file)[1].read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return "val" in trained_splits(sidecar.get("recipe") if isinstance(sidecar, dict) else None)
