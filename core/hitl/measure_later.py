"""Cross-validation after the model is active: Train on my labels' interval, measured in the background.

Cross-validation over groups (``core.hitl.cross_validation``) costs four to ten more trainings, so
Train on my labels ran ~5x its budget before the user got a model. Now the run exports, scores its
validation split and is registered as the active model first; what the folds need is written to
``measure_pending.json`` beside the checkpoint (recipe, optimiser steps, time cap, the exact label ids
trained on) and its interval reads "estimating…". ``measure`` then runs the folds (the app: an idle
worker; the CLI: right after the model is written, or never with ``--no-cv``), refits the quality
estimate on their out-of-fold rows, and ``apply`` writes the figures into the model's entry (model
library, training result). A cancelled or failed measurement leaves the model as it is, saying so.
See ADR 0012.
"""

from __future__ import annotations

import json
from copy import copy
from pathlib import Path
from typing import Any

from core.data.atomic import atomic_write_json
from core.data.project import Project
from core.errors import ToothSegError
from core.jobs import CancelToken

PENDING_FILE = "measure_pending.json"
ESTIMATING = "estimating…"
METRIC_KEYS = ("val_dice", "val_ci", "val_n", "val_groups", "val_method", "val_note")


def write_pending(run_dir: str | Path, plan: dict[str, Any]) -> Path:
    """Keep what the folds need beside the model (the app may be closed before they run)."""
    path = Path(run_dir) / PENDING_FILE
    atomic_write_json(path, plan)
    return path


def pending(run_dir: str | Path) -> dict[str, Any] | None:
    """The stored plan of a model whose interval is still to be measured, or None."""
    path = Path(run_dir) / PENDING_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "recipe" in data else None


def estimating_metrics(why: str) -> dict[str, Any]:
    """The val_* fields while the folds have not run: no figure, the reason, the val split's own Dice apart."""
    return {"val_dice": None, "val_ci": None, "val_n": None, "val_groups": None, "val_method": ESTIMATING, "val_note": f"{why}: cross-validation over groups {ESTIMATING}"}


def is_estimating(metrics: dict[str, Any]) -> bool:
    return metrics.get("val_method") == ESTIMATING


def _frozen_data(plan: dict[str, Any]):
    """The dataset as it was trained: labels added or accepted since are left out of the folds."""
    from core.data.sample import SampleIndex
    from core.train.data import Dataset2D, open_dataset
    from core.train.recipe import Recipe

    recipe = Recipe.from_json(plan["recipe"])
    data = open_dataset(plan["root"], recipe.split_seed, recipe.split_ratios)
    ids = set(plan.get("label_ids") or [])
    samples = []
    for s in data.index:
        if s.is_training_label and s.id not in ids:
            s = copy(s)
            s.status = "unlabeled"
        samples.append(s)
    index = SampleIndex(data.index.root, data.index.layout, samples, data.index.meta)
    return recipe, Dataset2D(data.root, data.project, index)


def measure(run_dir: str | Path, events=None, cancel: CancelToken | None = None, idle: bool = False) -> dict[str, Any]:
    """Run the pending cross-validation of the model in ``run_dir``; returns the val_* metrics (and
    ``seconds``). Refits the model's quality estimate on the out-of-fold rows. ``idle`` lowers the
    calling thread's priority for good (call it on a worker thread of its own)."""
    import time

    from core.hitl.sequence import cv_summary
    from core.infer.quality_fit import calibrate_after_training

    plan = pending(run_dir)
    if plan is None:
        raise ToothSegError(f"{run_dir}: no pending cross-validation")
    if idle:
        from core.hitl.background_pretrain import lower_priority

        lower_priority()
    t0 = time.monotonic()
    recipe, data = _frozen_data(plan)
    if idle:
        recipe = recipe.updated(threads=1)
    cancel = cancel or CancelToken()
    metrics = cv_summary(recipe, data, Path(run_dir), int(plan["steps"]), float(plan["cap_minutes"]),
                         plan.get("why", ""), plan.get("holdout") or {}, events, cancel)
    calibrate_after_training(plan["checkpoint"], plan["onnx"], data, plan.get("holdout_rows") or [], run_dir)
    (Path(run_dir) / PENDING_FILE).unlink(missing_ok=True)
    return {**metrics, "seconds": round(time.monotonic() - t0, 1)}


def not_measured(run_dir: str | Path, reason: str) -> dict[str, Any]:
    """The val_* fields of a model whose cross-validation was skipped, cancelled or failed: the val
    split's own Dice and interval stand, with the reason in words."""
    from core.train.confidence import dice_summary

    plan = pending(run_dir) or {}
    holdout = plan.get("holdout") or {}
    rows = plan.get("holdout_rows") or []
    s = dice_summary([r["dice"] for r in rows], [r.get("group", r["id"]) for r in rows]) if rows else {
        "dice": None, "ci": None, "n": 0, "groups": 0, "ci_note": ""}
    note = f"{plan.get('why', 'validation is small')}; cross-validation {reason}"
    return {"val_dice": s["dice"] if s["dice"] is not None else holdout.get("dice"), "val_ci": s["ci"],
            "val_n": s["n"], "val_groups": s["groups"], "val_method": "validation split", "val_note": note}


def apply(project: Project, name: str, metrics: dict[str, Any]) -> bool:
    """Write measured val_* figures into model ``name``'s entry (saves the project, refreshes the model
    library's copy); False when the model is gone."""
    from core.hitl.register import publish

    entry = project.model(name)
    if entry is None:
        return False
    entry.metrics.update({k: metrics.get(k) for k in METRIC_KEYS})
    entry.metrics = {k: v for k, v in entry.metrics.items() if v is not None}
    if metrics.get("seconds") is not None:
        entry.extra["measure_s"] = metrics["seconds"]
    project.save()
    publish(project, entry)
    return True


def finish(project: Project, name: str, run_dir: str | Path, events=None, cancel: CancelToken | None = None,
           run: bool = True) -> dict[str, Any]:
    """Measure now (``run``) or record why not, and write the figures into model ``name`` (scripts and the
    CLI; the app runs ``measure`` in a worker and ``apply`` on the UI thread). A cancelled or failed
    measurement is recorded as such before the error goes on."""
    try:
        metrics = measure(run_dir, events=events, cancel=cancel) if run else not_measured(run_dir, "skipped (--no-cv)")
    except Exception as exc:
        from core.errors import CancelledError

        reason = "cancelled" if isinstance(exc, CancelledError) else f"failed ({exc})"
        apply(project, name, not_measured(run_dir, reason))
        raise
    finally:
        (Path(run_dir) / PENDING_FILE).unlink(missing_ok=True)
    apply(project, name, metrics)
    return metrics
