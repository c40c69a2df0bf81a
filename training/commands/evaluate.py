"""`toothseg evaluate --model CKPT --data DIR [--split test|val|train|all] [--json]`."""

from __future__ import annotations

import argparse

from training.output import emit


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="Dice and IoU of a checkpoint on a split or a whole folder")
    p.add_argument("--model", required=True, help="checkpoint (.safetensors, .json or stem)")
    p.add_argument("--data", required=True, help="dataset folder")
    p.add_argument("--split", default="test", choices=("test", "val", "train", "all"))
    p.add_argument("--split-seed", type=int, default=0, help="seed for splits when the project has none")
    p.add_argument("--worst", type=int, default=3, help="how many best and worst cases to list")
    p.add_argument("--out", help="also write the JSON report to this file")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from core.data.atomic import atomic_write_json
    from core.train.evaluate import evaluate

    report = evaluate(args.model, args.data, args.split, worst=args.worst, split_seed=args.split_seed)
    if args.out:
        atomic_write_json(args.out, report)
    lines = [f"{report['n']} images ({report['split']}): dice {report['dice']:.4f}  iou {report['iou']:.4f}",
             f"best: {', '.join(report['best'])}", f"worst: {', '.join(report['worst'])}"]
    for name, s in report.get("per_class", {}).items():
        if s["dice"] is not None:
            lines.append(f"  {name}: dice {s['dice']:.4f} iou {s['iou']:.4f}")
    emit(report, args.json, "\n".join(lines))
    return 0
