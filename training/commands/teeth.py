"""`toothseg train-teeth DATA --out DIR [--minutes M] [--holdout 0.2] [--json]`: the numbered-teeth
recipe (ADR 0019) on an FDI folder, headless. The budget is this process's CPU time; a seeded share
of the panoramics is held out and never trained, and the model is scored on it at the end."""

from __future__ import annotations

import argparse
from pathlib import Path

from core.errors import ToothSegError
from training.output import emit


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-teeth", help="train the FDI teeth-instance recipe (numbered teeth) on an FDI folder")
    p.add_argument("data", help="folder of panoramics with FDI label maps")
    p.add_argument("--out", required=True, help="run folder (snapshots, last.pt, history.json)")
    p.add_argument("--minutes", type=float, default=30.0, help="budget in CPU-minutes of this process (30)")
    p.add_argument("--snapshots", default="10,30,60", help="CPU-minutes at which to keep a snapshot")
    p.add_argument("--threads", type=int, default=1, help="torch threads (1)")
    p.add_argument("--holdout", type=float, default=0.2, help="share of panoramics held out and scored (0.2)")
    p.add_argument("--seed", type=int, default=0, help="split and training seed")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from core.data.classes import is_fdi_tooth
    from core.data.masks import load_mask
    from core.teeth.evaluate import evaluate_teeth
    from core.teeth.predictor import TeethPredictor
    from core.teeth.recipe import TeethRecipe, holdout_split, labeled_samples, train_teeth

    if not Path(args.data).is_dir():
        raise ToothSegError(f"{args.data}: not a folder")
    if args.minutes <= 0 or not 0 <= args.holdout < 1:
        raise ToothSegError("--minutes must be positive and --holdout in [0, 1)")
    try:
        snaps = tuple(float(v) for v in args.snapshots.split(",") if v.strip())
    except ValueError:
        raise ToothSegError(f"--snapshots: comma-separated minutes, got {args.snapshots!r}") from None
    samples = labeled_samples(args.data)
    if len(samples) < 2:
        raise ToothSegError(f"{args.data}: the teeth recipe needs at least 2 labeled panoramics, found {len(samples)}")
    values = {int(v) for v in np.unique(load_mask(samples[0]))} - {0}
    if not values or not all(is_fdi_tooth(v) for v in values):
        raise ToothSegError(f"{samples[0].id}: label values {sorted(values)[:6]} are not FDI tooth numbers")
    ids = [s.id for s in samples]
    train, test = holdout_split(ids, args.holdout, args.seed) if args.holdout > 0 else (ids, [])
    recipe = TeethRecipe(max_cpu_minutes=args.minutes, threads=args.threads, seed=args.seed,
                         snapshots=tuple(m for m in snaps if m < args.minutes))
    out = Path(args.out)
    log = (lambda _s: None) if args.json else (lambda s: print(s, flush=True))
    summary = train_teeth([s for s in samples if s.id in set(train)], out, recipe, log=log)
    result = {"model": str(out / "last.pt"), **summary, "train": len(train), "heldout": len(test)}
    if test:
        r = evaluate_teeth(TeethPredictor(out / "last.pt"), args.data, test)
        result.update({k: r[k] for k in ("dice", "map", "map50", "instance_dice", "identification_accuracy",
                                         "detection_recall", "detection_precision")})
    text = f"{result['model']}: {summary['steps']} steps in {summary['cpu_minutes']} CPU-min on {len(train)} panoramics"
    if test:
        text += (f"\nheld out (n = {len(test)}): mean per-tooth Dice {result['dice']:.4f}, mAP@.5 {result['map50']:.4f}, "
                 f"identification accuracy {result['identification_accuracy']}")
    emit(result, args.json, text)
    return 0
