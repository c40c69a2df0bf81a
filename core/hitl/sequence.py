"""The one sequence behind Train on my labels and every Advanced mode: train, export, evaluate.

``run_sequence`` trains the recipe on a folder (pseudo-label: trains and writes masks), and for a
segmentation mode exports ONNX with the parity check and scores the saved model on the validation
split. With ``measure`` (Train on my labels) it also gives the Dice its interval, or cross-validation
over groups when validation is too small, compares the previous model on the same images and fits
the per-mask quality estimate. It writes nothing to the project: ``auto_train.register`` does that.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from core.errors import ToothSegError
from core.jobs import CancelToken
from core.train.fields import get_mode
from core.train.recipe import Recipe


def run_sequence(recipe: Recipe, root: str | Path, run_dir: str | Path, events=None,
                 cancel: CancelToken | None = None, resume: bool = False, measure: bool = False,
                 previous_checkpoint: str | Path | None = None, defer_cv: bool = False) -> dict[str, Any]:
    """Train ``recipe`` on ``root`` into ``run_dir``; returns the outcome ``auto_train.register`` records.
    ``defer_cv``: when validation is too small, do not run the cross-validation folds here; write their
    plan beside the model (``core.hitl.measure_later``) and report the interval as estimating."""
    from core.models.checkpoint import read_sidecar
    from core.train.data import open_dataset
    from core.train.loop import run_training
    from core.train.pseudo import run_pseudo_label

    cancel = cancel or CancelToken()
    run_dir = Path(run_dir)
    t0 = time.monotonic()
    data = open_dataset(root, recipe.split_seed, recipe.split_ratios)
    resume = resume and (run_dir / "last_state.pt").exists()
    cv, why = _needs_cv(data) if measure else (False, "")
    if recipe.val_trains and not cv:  # its images only train when cross-validation, not they, measure the model
        recipe = recipe.updated(val_trains=False)
    if cv and events is not None:
        when = "once the model is active, in the background," if defer_cv else "after training,"
        events.on_log(f"{why}: {when} cross-validation over groups measures the model")
    if recipe.mode == "pseudo-label" and not resume:
        result = run_pseudo_label(recipe, data, run_dir, events=events, cancel=cancel)
    else:
        result = run_training(recipe, data, run_dir, events=events, cancel=cancel, resume=resume)
    best = run_dir / "best.safetensors"
    if not best.exists():
        raise ToothSegError(f"training stopped before the first epoch finished; nothing was saved ({run_dir})")
    trained_s = time.monotonic() - t0
    outcome: dict[str, Any] = {"run_dir": str(run_dir), "checkpoint": str(best), "onnx": "", "training": result,
                               "mode": recipe.mode, "recipe": recipe.to_json(),
                               "fingerprint": read_sidecar(best).get("fingerprint", ""),
                               "train_s": round(trained_s, 2)}
    if get_mode(recipe.mode).segmentation:
        from core.export.onnx import export_onnx
        from core.train.evaluate import evaluate

        if events is not None:
            events.on_log("exporting ONNX (parity check on real images)")
        export = export_onnx(best, run_dir / "model.onnx", images=str(data.root), max_images=4, cancel=cancel)
        if recipe.val_trains:  # the validation images trained: nothing held out to score here (ADR 0015)
            new: dict[str, Any] = {"dice": None, "iou": None, "n": 0, "per_image": []}
        else:
            new = evaluate(best, data, split="val", cancel=cancel)
        outcome.update(onnx=export["out"], export=export, val_dice=new["dice"], val_iou=new["iou"])
        if measure:
            outcome.update(_measure(new, recipe, data, run_dir, result if cv and not defer_cv else None, why,
                                    events, cancel, None if recipe.val_trains else previous_checkpoint))
            from core.infer.quality_fit import calibrate_after_training  # estimated Dice per mask (issue 16)

            calibrate_after_training(best, export["out"], data, new["per_image"], run_dir)
            if cv and defer_cv:
                outcome.update(_defer(recipe, root, data, run_dir, result, why, new, best, export["out"]))
    outcome["elapsed_s"] = round(time.monotonic() - t0, 2)
    return outcome


def _needs_cv(data) -> tuple[bool, str]:
    """Whether validation is too small for a useful interval (then folds measure instead), and why."""
    from core.hitl.cross_validation import holdout_is_useful

    useful, why = holdout_is_useful(list(data.index))
    return not useful, why


def _measure(holdout: dict[str, Any], recipe: Recipe, data, run_dir: Path, trained: dict[str, Any] | None,
             why: str, events, cancel: CancelToken, previous_checkpoint: str | Path | None) -> dict[str, Any]:
    """val_dice / val_ci / val_n / val_groups (the holdout with its interval, or cross-validation's),
    the holdout itself and the previous model's Dice on the same validation images."""
    from core.train.confidence import dice_summary
    from core.train.evaluate import evaluate

    old = None
    if previous_checkpoint and Path(previous_checkpoint).with_suffix(".json").exists():
        try:
            old = evaluate(previous_checkpoint, data, split="val", cancel=cancel)["dice"]
        except ToothSegError as exc:
            if events is not None:
                events.on_log(f"previous model not comparable: {exc}")
    group_of = {s.id: s.group or s.id for s in data.index}
    rows = holdout["per_image"]
    summary = {**dice_summary([r["dice"] for r in rows], [group_of.get(r["id"], r["id"]) for r in rows]),
               "method": "validation split"}
    out = {"val_dice": summary["dice"], "val_ci": summary["ci"], "val_n": summary["n"],
           "val_groups": summary["groups"], "val_method": summary["method"], "val_note": summary["ci_note"],
           "holdout_dice": holdout["dice"], "holdout_n": holdout["n"], "previous_dice": old}
    if trained is not None:
        out.update(cv_summary(recipe, data, run_dir, int(trained.get("steps", 0)) or 1, _cap(trained), why,
                              summary, events, cancel))
    return out


def _cap(trained: dict[str, Any]) -> float:
    """Minutes a fold may take: TIME_CAP times the shipped model's training time, at least MIN_CAP_MINUTES
    (a safety stop: the fold's budget is its steps)."""
    from core.hitl.cross_validation import MIN_CAP_MINUTES, TIME_CAP

    return max(MIN_CAP_MINUTES, TIME_CAP * float(trained.get("elapsed_s", 60)) / 60)


def cv_summary(recipe: Recipe, data, run_dir: Path, steps: int, cap_minutes: float, why: str,
               holdout: dict[str, Any], events, cancel: CancelToken) -> dict[str, Any]:
    """The val_* fields from cross-validation over groups (``holdout``, the val split's own summary,
    stands when no fold could be scored)."""
    from core.hitl.cross_validation import cross_validate

    cv = cross_validate(recipe, data, run_dir, steps, cap_minutes, events=events, cancel=cancel, seed=recipe.seed)
    if cv.get("dice") is not None:
        cv["ci_note"] = f"{why}; {cv['method']} instead" + (f"; {cv['ci_note']}" if cv["ci_note"] else "")
        summary = cv
    else:
        summary = {**holdout, "ci_note": f"{why}; {cv['ci_note']}"}
    return {"val_dice": summary.get("dice"), "val_ci": summary.get("ci"), "val_n": summary.get("n", 0),
            "val_groups": summary.get("groups", 0), "val_method": summary.get("method", "validation split"),
            "val_note": summary.get("ci_note", "")}


def _defer(recipe: Recipe, root, data, run_dir: Path, trained: dict[str, Any], why: str, holdout: dict[str, Any],
           best: Path, onnx: str) -> dict[str, Any]:
    """Write the folds' plan beside the model; the outcome's interval reads "estimating…" until
    ``core.hitl.measure_later.measure`` has run them."""
    from core.hitl.measure_later import estimating_metrics, write_pending
    from core.train.confidence import dice_summary

    group_of = {s.id: s.group or s.id for s in data.index}
    rows = [{"id": r["id"], "dice": r["dice"], "group": group_of.get(r["id"], r["id"]),
             **{k: r[k] for k in ("soft", "flip", "area_frac") if k in r}} for r in holdout["per_image"]]
    own = {**dice_summary([r["dice"] for r in rows], [r["group"] for r in rows]), "method": "validation split"}
    write_pending(run_dir, {"root": str(Path(root).resolve()), "recipe": recipe.to_json(),
                            "steps": int(trained.get("steps", 0)) or 1, "cap_minutes": _cap(trained), "why": why,
                            "label_ids": sorted(s.id for s in data.index if s.is_training_label),
                            "checkpoint": str(best), "onnx": str(onnx), "holdout": own, "holdout_rows": rows})
    return {**estimating_metrics(why), "cv_pending": True}
