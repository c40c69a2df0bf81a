"""Running any of the five training modes from the GUI with the same outcome shape as Train on my labels.

Segmentation modes (fine-tune, Mean Teacher, pseudo-label) end with an ONNX export and validation
Dice, so they can be registered and activated; pretraining modes end with a checkpoint that later
runs warm-start from.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from core.errors import ToothSegError
from core.jobs import CancelToken
from core.train.recipe import Recipe

SEGMENTATION_MODES = ("finetune", "mean-teacher", "pseudo-label")


def run_mode(recipe: Recipe, root: str | Path, run_dir: str | Path, events=None, cancel: CancelToken | None = None,
             resume: bool = False) -> dict[str, Any]:
    """Train ``recipe`` on the folder ``root`` into ``run_dir``; returns an outcome for ``auto_train.register``."""
    from core.models.checkpoint import read_sidecar
    from core.train.data import open_dataset
    from core.train.loop import run_training
    from core.train.pseudo import run_pseudo_label

    cancel = cancel or CancelToken()
    run_dir = Path(run_dir)
    t0 = time.monotonic()
    data = open_dataset(root, recipe.split_seed, recipe.split_ratios)
    resume = resume and (run_dir / "last_state.pt").exists()
    if recipe.mode == "pseudo-label" and not resume:
        result = run_pseudo_label(recipe, data, run_dir, events=events, cancel=cancel)
    else:
        result = run_training(recipe, data, run_dir, events=events, cancel=cancel, resume=resume)
    best = run_dir / "best.safetensors"
    if not best.exists():
        raise ToothSegError(f"training stopped before the first epoch finished; nothing was saved ({run_dir})")
    outcome: dict[str, Any] = {"run_dir": str(run_dir), "checkpoint": str(best), "onnx": "", "training": result,
                               "mode": recipe.mode, "recipe": recipe.to_json(),
                               "fingerprint": read_sidecar(best).get("fingerprint", ""),
                               "train_s": round(time.monotonic() - t0, 2)}
    if recipe.mode in SEGMENTATION_MODES:
        from core.export.onnx import export_onnx
        from core.train.evaluate import evaluate

        if events is not None:
            events.on_log("exporting ONNX (parity check on real images)")
        export = export_onnx(best, run_dir / "model.onnx", images=str(data.root), max_images=4, cancel=cancel)
        report = evaluate(best, data, split="val", cancel=cancel)
        outcome.update(onnx=export["out"], export=export, val_dice=report["dice"], val_iou=report["iou"])
    outcome["elapsed_s"] = round(time.monotonic() - t0, 2)
    return outcome
