"""`toothseg train-on-labels DIR [--minutes M] [--seed S] [--json]`: the toolbar's Train on my labels.

Same planner, splits by acquisition group, training, ONNX export, validation interval (or
cross-validation over groups when validation is too small) and registration as the active model.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from core.errors import ToothSegError
from training.output import emit


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-on-labels", help="what the Train on my labels button does, headless")
    p.add_argument("data", help="dataset folder")
    p.add_argument("--minutes", type=float, help="time budget (default: chosen from the number of labels)")
    p.add_argument("--seed", type=int, help="training seed (and split seed when the project has no splits)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from core.hitl.auto_train import train_on_labels
    from core.train.confidence import describe
    from core.train.events import StderrLogEvents

    if not Path(args.data).is_dir():
        raise ToothSegError(f"{args.data}: not a folder")
    if args.minutes is not None and args.minutes <= 0:
        raise ToothSegError(f"--minutes must be positive, got {args.minutes}")
    t0 = time.monotonic()
    entry, out = train_on_labels(args.data, minutes=args.minutes, seed=args.seed,
                                 events=None if args.json else StderrLogEvents())
    grouping = out.get("grouping") or {}
    if grouping.get("message"):
        print(f"note: {grouping['message']}", file=sys.stderr)
    result = {"name": entry.name, "model": str(Path(out["checkpoint"]).with_suffix(".json")), "onnx": out["onnx"],
              "val_dice": out["val_dice"], "val_ci": out["val_ci"], "val_n": out["val_n"],
              "val_groups": out["val_groups"], "val_method": out["val_method"], "val_note": out["val_note"],
              "holdout_dice": out["holdout_dice"], "holdout_n": out["holdout_n"],
              "previous": out.get("previous") or None, "previous_dice": out.get("previous_dice"),
              "groups": grouping.get("groups"), "groups_method": grouping.get("method"),
              "groups_note": grouping.get("message", ""), "seconds": round(time.monotonic() - t0, 1)}
    summary = {"dice": out["val_dice"], "ci": out["val_ci"], "n": out["val_n"], "groups": out["val_groups"],
               "ci_note": out["val_note"]}
    emit(result, args.json, f"{entry.name} is the active model; {describe(summary, 'val Dice')} "
                            f"[{out['val_method']}]; {result['seconds']:.0f} s\nONNX: {out['onnx']}")
    return 0
