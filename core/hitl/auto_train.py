""""Train on my labels": one call from the user's corrected masks to an active ONNX model.

The plan is chosen from the number of usable labels and the device so that a laptop CPU finishes in
minutes; the run warm-starts from the previous (or a pretrained) model of the project, trains on
labeled + reviewed samples, exports ONNX with the parity check, and reports validation Dice next to
the previous model's on the same images. Project mutation (``register``) is kept apart from the
long job (``run_plan``) so the GUI can run the job in a worker and register on the UI thread.

The parts live in files named for them: ``plan`` (heuristics, device, warm start), ``split_policy``,
``register`` and ``model_files`` (paths); their names are re-exported here for existing callers.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from core.data.project import ModelEntry, Project
from core.hitl.model_files import MODELS_DIRNAME, model_path, new_run_dir, project_relative
from core.hitl.plan import (
    MIN_LABELS,
    TrainPlan,
    choose_warm_start,
    cpu_threads,
    plan_training,
    training_device,
)
from core.hitl.register import publish, register
from core.hitl.split_policy import (
    SMALL_SET,
    SMALL_SET_RATIOS,
    apply_splits,
    compute_splits,
    ensure_splits,
    split_counts,
    split_ratios,
)
from core.jobs import CancelToken, Progress

__all__ = ["MIN_LABELS", "MODELS_DIRNAME", "SMALL_SET", "SMALL_SET_RATIOS", "TrainPlan", "apply_splits",
           "choose_warm_start", "compute_splits", "cpu_threads", "ensure_splits", "model_path", "new_run_dir",
           "plan_training", "project_relative", "publish", "register", "run_plan", "split_counts", "split_ratios",
           "train_on_labels", "training_device"]
_publish = publish                     # the older private names, for callers not yet moved
_device = training_device


def run_plan(plan: TrainPlan, root: str | Path, run_dir: str | Path, events=None,
             cancel: CancelToken | None = None, resume: bool = False, previous_checkpoint: str | Path | None = None,
             progress: Progress | None = None) -> dict[str, Any]:
    """Train, export ONNX and score new and previous model on the validation split (no project writes);
    the sequence is ``core.hitl.sequence.run_sequence``, measured. When validation is too small the
    outcome's interval is "estimating…" (``cv_pending``): ``core.hitl.measure_later`` runs the
    cross-validation once the model is registered and active."""
    from core.hitl.sequence import run_sequence

    if plan.teeth is not None:   # an FDI folder: the numbered-teeth recipe (core.hitl.teeth_train)
        from core.hitl.teeth_train import run_teeth_plan

        outcome = run_teeth_plan(plan, root, run_dir, events=events, cancel=cancel,
                                 previous_checkpoint=previous_checkpoint)
        return {**outcome, "previous": plan.previous, "warm_from": plan.warm_from}
    outcome = run_sequence(plan.recipe, root, run_dir, events=events, cancel=cancel, resume=resume, measure=True,
                           previous_checkpoint=previous_checkpoint, defer_cv=True)
    return {**outcome, "previous": plan.previous, "warm_from": plan.warm_from}


def train_on_labels(root: str | Path, minutes: float | None = None, events=None, cancel: CancelToken | None = None,
                    seed: int | None = None, cv: bool = True, **overrides: Any) -> tuple[ModelEntry, dict[str, Any]]:
    """The whole button for scripts and benchmarks: plan, train, export, register, activate, then (when
    validation is too small) cross-validate and update the registered figures; ``cv=False`` skips that
    (the val split's own figure stands, saying so). ``seed`` seeds training and, for a project without
    splits yet, the split. The outcome's ``active_s`` is when the model became active."""
    from core.data.groups import stored_groups
    from core.data.layouts import load_index

    t0 = time.monotonic()
    project = Project.open(root)
    index = project.apply(load_index(Path(root)))
    ensure_splits(project, index, seed=seed or 0)
    if seed is not None:
        overrides["seed"] = seed
    plan = plan_training(project, index, minutes=minutes, **overrides)
    prev = project.model(plan.previous) if plan.previous else None
    outcome = run_plan(plan, root, new_run_dir(project, "teeth" if plan.teeth is not None else "finetune"),
                       events=events, cancel=cancel,
                       previous_checkpoint=model_path(project, prev) if prev else None)
    grouping = stored_groups(project)
    if grouping is not None:
        outcome["grouping"] = {"groups": grouping.count, "method": grouping.method, "message": grouping.message}
    entry = register(project, outcome)
    outcome["active_s"] = round(time.monotonic() - t0, 2)
    if outcome.pop("cv_pending", False):
        from core.hitl import measure_later

        later = measure_later.finish(project, entry.name, outcome["run_dir"], events, cancel, run=cv)
        outcome.update({k: later.get(k) for k in measure_later.METRIC_KEYS}, cv_s=later.get("seconds"))
    return entry, outcome
