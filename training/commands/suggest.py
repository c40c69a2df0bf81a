"""`toothseg suggest --data DIR [--model CKPT] [--top N] [--method ...] [--json]`."""

from __future__ import annotations

import argparse

from training.output import emit


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("suggest", help="rank unlabeled images for annotation")
    p.add_argument("--data", required=True, help="dataset folder")
    p.add_argument("--model", help="checkpoint or .onnx: rank by model uncertainty instead of the brightness heuristic")
    p.add_argument("--method", choices=("brightness", "coverage", "entropy", "tta"),
                   help="default: entropy with --model, brightness without; coverage: typical images of groups no label covers")
    p.add_argument("--band", type=float, nargs=2, default=(0.3, 0.7), metavar=("TOP", "BOTTOM"),
                   help="depth band for the brightness heuristic (fractions of the height)")
    p.add_argument("--top", type=int, default=10)
    p.add_argument("--json", action="store_true", help="print the ranking as one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from core.train.suggest import suggest

    result = suggest(args.data, args.model, top=args.top, method=args.method, band=tuple(args.band))
    lines = [f"{result['n']} candidates, ranked by {result['method']}:"]
    lines += [f"{r['rank']:>3}. {r['id']}  {r['score']:.4f}" for r in result["ranked"]]
    emit(result, args.json, "\n".join(lines))
    return 0
