"""Torch-free descriptions shared by checkpoints and ONNX metadata: class tables and normalisation.

Kept apart from checkpoint.py so the slim "viewer + inference" build (ONNX Runtime, no PyTorch)
can read and write model metadata without importing torch.
"""

from __future__ import annotations

from typing import Any

DEFAULT_NORMALIZATION = {"mean": 0.5, "std": 0.25}
PALETTE = [(0, 0, 0), (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
           (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212)]


def default_classes(out_channels: int) -> list[dict[str, Any]]:
    """Background + one class per extra channel (a 1-channel binary head means background/foreground)."""
    count = 2 if out_channels == 1 else out_channels
    names = ["background", "foreground"] if count == 2 else ["background"] + [f"class {i}" for i in range(1, count)]
    return [{"id": i, "name": n, "color": list(PALETTE[i % len(PALETTE)])} for i, n in enumerate(names)]


def normalize_classes(classes: list[Any]) -> list[dict[str, Any]]:
    """Accept names or dicts; always return [{"id", "name", "color", ...}] so nothing is guessed later."""
    out = []
    for i, item in enumerate(classes):
        entry = {"name": item} if isinstance(item, str) else dict(item)
        entry.setdefault("id", i)
        entry.setdefault("name", f"class {entry['id']}")
        entry.setdefault("color", list(PALETTE[int(entry["id"]) % len(PALETTE)]))
        out.append(entry)
    return out
