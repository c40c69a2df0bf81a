"""`toothseg train-on-labels DIR [--minutes M [--cpu-budget]] [--seed S] [--no-background] [--json]`: the
toolbar's Train on my labels.

Same planner, splits by acquisition group, training, ONNX export, validation interval and registration
as the active model. First it does what the app does while the user labels: below 50 labels on a CPU, the
labels and their fixed views get LiteMedSAM embeddings (``core.hitl.background_embed``; once per folder, kept
in its store), without which the button encodes the bare labels inside its own time and trains without the
views (20 thyroid labels, seed 0, a fresh folder: active after 163 s instead of 43 s, unseen-video Dice 0.759
against 0.760; the views' +0.017 over four seeds: ADR 0015); its seconds are reported apart (``background``). When
validation is too small, cross-validation over groups then measures the model that is already active
(``active_seconds`` in the JSON says when it was) and updates its figures, reported in the same JSON;
``--no-cv`` skips it (the validation split's own figure stands, saying so).
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
    p.add_argument("--cpu-budget", action="store_true",
                   help="count --minutes in this process's CPU time, not wall time (a shared or busy machine)")
    p.add_argument("--seed", type=int, help="training seed (and split seed when the project has no splits)")
    p.add_argument("--no-cv", action="store_true",
                   help="do not cross-validate when validation is small (faster; the interval is the val split's)")
    p.add_argument("--no-background", action="store_true",
                   help="skip embedding the labels' views first (the app does it while you label; the head then "
                        "trains on the bare labels)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.set_defaults(func=run)


def embed_first(root: str | Path, log=None) -> dict:
    """The app's background embedding of the labels, before the button (nothing when the plan trains a U-Net,
    numbered teeth, or everything is stored already); a failure only means the training encodes the bare labels."""
    from core.hitl.background_embed import LabelEmbedder, safely

    c0 = time.process_time()
    done = safely(LabelEmbedder(), root, None, log)
    return {**done, "cpu_seconds": round(time.process_time() - c0, 1)}


def run(args: argparse.Namespace) -> int:
    from core.hitl.auto_train import train_on_labels
    from core.train.confidence import describe
    from core.train.events import StderrLogEvents

    if not Path(args.data).is_dir():
        raise ToothSegError(f"{args.data}: not a folder")
    if args.minutes is not None and args.minutes <= 0:
        raise ToothSegError(f"--minutes must be positive, got {args.minutes}")
    say = None if args.json else (lambda line: print(line, file=sys.stderr))
    if say is not None and not args.no_background:
        say("first, what the app does while you label: LiteMedSAM embeddings of the labels' views when the plan "
            "trains its head (once per folder; --no-background skips it)")
    background = {"skipped": "--no-background"} if args.no_background else embed_first(args.data, say)
    t0 = time.monotonic()
    extra = {"cpu_budget": True} if args.cpu_budget else {}
    entry, out = train_on_labels(args.data, minutes=args.minutes, seed=args.seed, cv=not args.no_cv,
                                 events=None if args.json else StderrLogEvents(), **extra)
    grouping = out.get("grouping") or {}
    if grouping.get("message"):
        print(f"note: {grouping['message']}", file=sys.stderr)
    teeth = out.get("mode") == "teeth-instances"     # its checkpoint is the .pt snapshot itself
    model = out["checkpoint"] if teeth else str(Path(out["checkpoint"]).with_suffix(".json"))
    result = {"name": entry.name, "model": model, "onnx": out["onnx"],
              "val_dice": out["val_dice"], "val_ci": out["val_ci"], "val_n": out["val_n"],
              "val_groups": out["val_groups"], "val_method": out["val_method"], "val_note": out["val_note"],
              "holdout_dice": out["holdout_dice"], "holdout_n": out["holdout_n"],
              "previous": out.get("previous") or None, "previous_dice": out.get("previous_dice"),
              "groups": grouping.get("groups"), "groups_method": grouping.get("method"),
              "groups_note": grouping.get("message", ""), "seconds": round(time.monotonic() - t0, 1),
              "active_seconds": out.get("active_s"), "cv_seconds": out.get("cv_s"), "mode": out.get("mode"),
              "background": background}
    if teeth:   # an FDI folder: numbered teeth, scored per tooth on val too
        result.update({k: out.get(k) for k in ("tooth_dice", "id_accuracy", "map50", "detection_recall")})
    summary = {"dice": out["val_dice"], "ci": out["val_ci"], "n": out["val_n"], "groups": out["val_groups"],
               "ci_note": out["val_note"]}
    emit(result, args.json, f"{entry.name} is the active model; {describe(summary, 'val Dice')} "
                            f"[{out['val_method']}]; active after {result['active_seconds']:.0f} s, {result['seconds']:.0f} s in all\nONNX: {out['onnx']}")
    return 0
