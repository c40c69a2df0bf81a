"""Train on my labels on an FDI folder: the numbered-teeth recipe (ADR 0019) instead of a per-pixel U-Net.

``plan_teeth`` fills the plan (the same budget rule as the U-Net's, in this process's CPU minutes;
warm start from the active model when it is a teeth model of the same network); ``run_teeth_plan``
trains on the train split, exports ONNX with the parity check (``core.export.teeth``), and scores the
exported model -- through the inference contract's teeth branch, as the app will run it -- on the
validation split: per-image Dice (mean per-tooth Dice) with n, groups and the interval over groups
(``core.train.confidence``), per-tooth Dice, mAP@.5 and identification accuracy. No cross-validation:
a fold would cost another full training of this network. The outcome is what ``register`` records.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import ToothSegError
from core.jobs import CancelToken

MODE = "teeth-instances"
SLOW_BELOW = 10.0    # CPU-min: 10 gave per-tooth Dice 0.72 on 64 unseen panoramics (ADR 0019), 1.5 gave 0.07-0.20


def teeth_minutes(labels: int) -> float:
    """The default budget: the U-Net plan's rule gives 40 labels 1.5 CPU-min, after which the numbered teeth
    are unusable (per-tooth Dice 0.07-0.20, ADR 0019 addendum); a button that trains for nothing costs the
    user more than ten minutes, so numbered teeth get at least SLOW_BELOW (0.72 at 10 CPU-min)."""
    from core.hitl.plan import cpu_minutes

    return max(SLOW_BELOW, cpu_minutes(labels))


def fdi_numbers(project, index) -> list[int]:
    """The FDI numbers an FDI folder's teeth may get, or [] when its labels are not FDI teeth: the
    project's class table when it is one of teeth, else (a folder never opened in the app keeps the
    default one-class table) the table the first label map's values imply."""
    from core.data.classes import classes_from_values, is_fdi_tooth

    values = [c.value for c in project.classes]
    if len(values) > 2 and all(is_fdi_tooth(v) for v in values):
        return values
    labeled = index.labeled()
    if len(values) > 1 or not labeled:      # the user's own non-FDI table, or nothing to look at
        return []
    found = _mask_values(labeled[0])
    if len(found) <= 2 or not all(is_fdi_tooth(v) for v in found):
        return []
    return [c.value for c in classes_from_values(found)]


_VALUES: dict[tuple, set[int]] = {}


def _mask_values(sample) -> set[int]:
    """Label values of one mask, remembered while the file is unchanged (the app re-plans after every
    saved mask, on the UI thread; a full-size panoramic's mask takes tens of milliseconds to decode)."""
    from core.data.masks import load_mask

    try:
        key = (sample.id, str(sample.mask), Path(sample.mask).stat().st_mtime_ns)
    except (OSError, TypeError):
        key = None
    if key is None or key not in _VALUES:
        values = {int(v) for v in np.unique(load_mask(sample))} - {0}
        if key is None:
            return values
        _VALUES.clear()
        _VALUES[key] = values
    return _VALUES[key]


def plan_teeth(plan, project, numbers: list[int], budget: float, warm_start: bool, overrides: dict[str, Any]) -> None:
    """Fill ``plan`` (a ``core.hitl.plan.TrainPlan``) for the teeth recipe; ``overrides["teeth"]`` are
    ``TeethRecipe`` fields (tests: a tiny network)."""
    from core.hitl.model_files import model_path
    from core.hitl.plan import cpu_threads

    recipe = {"max_cpu_minutes": float(budget), "threads": cpu_threads(), "snapshots": (),
              "seed": int(overrides.get("seed", 0)), **dict(overrides.get("teeth") or {})}
    plan.teeth, plan.numbers = recipe, list(numbers)
    plan.recipe = plan.recipe.updated(max_minutes=float(budget), device="cpu")
    plan.device = "cpu"
    active = project.model(project.active_model) if project.active_model else None
    plan.previous = active.name if active else ""
    if warm_start and active is not None and active.mode == MODE:
        path = model_path(project, active)
        if path is not None and Path(path).exists():
            plan.warm_start, plan.warm_from = str(path), active.name


def describe_teeth(plan) -> str:
    from core.teeth.recipe import TeethRecipe

    r = TeethRecipe(**plan.teeth)
    start = f"warm start from {plan.warm_from}" if plan.warm_start else "from scratch"
    text = (f"{plan.labeled} labels, numbered teeth ({len(plan.numbers)} FDI numbers): U-Net {r.base_channels} ch "
            f"on image + x/y, {r.crop[0]}x{r.crop[1]} crops, {r.max_cpu_minutes:g} CPU-min on cpu "
            f"({'bf16 where native' if r.bf16 else 'fp32'}), {start}")
    if r.max_cpu_minutes < SLOW_BELOW:   # 1.5 CPU-min on 40 labels: per-tooth Dice 0.07-0.20 (ADR 0019 addendum)
        text += f"; numbered teeth learn slowly: about {SLOW_BELOW:g} CPU-min for usable teeth, raise the budget"
    return text


def run_teeth_plan(plan, root: str | Path, run_dir: str | Path, events=None, cancel: CancelToken | None = None,
                   previous_checkpoint: str | Path | None = None) -> dict[str, Any]:
    """Train, export ONNX and score it on the validation split; the outcome ``register`` records."""
    from core.export.teeth import export_teeth_onnx
    from core.infer.predictor import load_predictor
    from core.teeth.evaluate import evaluate_teeth_samples
    from core.teeth.recipe import TeethRecipe, train_teeth
    from core.train.confidence import dice_summary
    from core.train.data import open_dataset

    cancel = cancel or CancelToken()
    run_dir = Path(run_dir)
    t0 = time.monotonic()
    log = events.on_log if events is not None else (lambda _s: None)
    data = open_dataset(root, plan.recipe.split_seed, plan.recipe.split_ratios)
    train = [s for s in data.index if s.is_training_label and s.split == "train"]
    val = [s for s in data.index if s.has_mask and s.split == "val"]
    if len(train) < 2:
        raise ToothSegError(f"the numbered-teeth recipe needs at least 2 training panoramics; the train split "
                            f"holds {len(train)}")
    recipe = TeethRecipe(**plan.teeth)
    log(f"numbered teeth: {len(train)} training panoramics, {len(val)} validation, "
        f"{recipe.max_cpu_minutes:g} CPU-min")
    if events is not None:     # the step count is not known ahead: the panel's progress follows on_budget
        events.on_start(10**9, {"mode": "numbered teeth", "device": "cpu"})
    trained = train_teeth(train, run_dir, recipe, log=log, cancel=lambda: cancel.cancelled,
                          init=plan.warm_start or None, on_step=events.on_step if events is not None else None,
                          on_budget=events.on_budget if events is not None else None)
    for extra in run_dir.glob("snapshot-*.pt"):   # the budget's end snapshot repeats last.pt (17 MB at 16 ch)
        extra.unlink(missing_ok=True)
    cancel.raise_if_cancelled("training")
    checkpoint = run_dir / "last.pt"
    train_s = time.monotonic() - t0
    log("exporting ONNX (parity check on real panoramics)")
    export = export_teeth_onnx(checkpoint, run_dir / "model.onnx", [s.image for s in (val or train)],
                               allowed=plan.numbers, max_images=2)
    outcome: dict[str, Any] = {"run_dir": str(run_dir), "checkpoint": str(checkpoint), "onnx": export["out"],
                               "training": trained, "mode": MODE, "recipe": asdict(recipe), "fingerprint": "",
                               "export": export, "train_s": round(train_s, 2), "numbers": list(plan.numbers)}
    if val:
        cancel.raise_if_cancelled("evaluation")
        report = evaluate_teeth_samples(load_predictor(export["out"]), val, plan.numbers)   # as the app runs it
        group_of = {s.id: s.group or s.id for s in val}
        rows = report["per_image"]
        summary = dice_summary([r["dice"] for r in rows], [group_of[r["id"]] for r in rows])
        outcome.update(val_dice=summary["dice"], val_ci=summary["ci"], val_n=summary["n"],
                       val_groups=summary["groups"], val_method="validation split", val_note=summary["ci_note"],
                       holdout_dice=report["dice"], holdout_n=report["n"],
                       tooth_dice=report["instance_dice"], id_accuracy=report["identification_accuracy"],
                       map50=report["map50"], detection_recall=report["detection_recall"],
                       previous_dice=_previous_dice(previous_checkpoint, val, data, cancel, log, plan.numbers))
        log(f"validation (n = {summary['n']}, {summary['groups']} groups): mean per-tooth Dice "
            f"{summary['dice']:.3f} {summary['ci']}; identification accuracy {report['identification_accuracy']}")
    else:
        outcome.update(val_dice=None, val_n=0, val_note="no validation panoramics: not measured")
    outcome["elapsed_s"] = round(time.monotonic() - t0, 2)
    return outcome


def _previous_dice(previous: str | Path | None, val, data, cancel: CancelToken, log, numbers=None) -> float | None:
    """The previous model's mean per-tooth Dice on the same validation panoramics (a teeth snapshot or
    a registered per-pixel model alike), or None when there is none or it cannot be scored."""
    if not previous or not Path(previous).exists():
        return None
    try:
        if Path(previous).suffix == ".pt":   # scored through its ONNX export, as the new model is
            from core.infer.predictor import load_predictor
            from core.teeth.evaluate import evaluate_teeth_samples

            onnx = Path(previous).with_name("model.onnx")
            if not onnx.exists():
                return None
            return float(evaluate_teeth_samples(load_predictor(onnx), val, numbers)["dice"])
        from core.train.evaluate import evaluate

        return float(evaluate(previous, data, split="val", cancel=cancel)["dice"])
    except ToothSegError as exc:
        log(f"previous model not comparable: {exc}")
        return None
