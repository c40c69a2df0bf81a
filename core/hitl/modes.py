"""Running any of the five training modes from the GUI with the same outcome shape as Train on my labels.

Segmentation modes (fine-tune, Mean Teacher, pseudo-label) end with an ONNX export and validation
Dice, so they can be registered and activated; pretraining modes end with a checkpoint that later
runs warm-start from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.jobs import CancelToken
from core.train.recipe import Recipe


def run_mode(recipe: Recipe, root: str | Path, run_dir: str | Path, events=None, cancel: CancelToken | None = None,
             resume: bool = False) -> dict[str, Any]:
    """Train ``recipe`` on the folder ``root`` into ``run_dir``; returns an outcome for ``auto_train.register``.
    The same sequence as Train on my labels (``core.hitl.sequence``), scored on the validation split only."""
    from core.hitl.sequence import run_sequence

    return run_sequence(recipe, root, run_dir, events=events, cancel=cancel, resume=resume)
