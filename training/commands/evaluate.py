"""`toothseg evaluate --model CKPT|model.onnx --data DIR [--split test|val|heldout|train|all] [--json]`."""

from __future__ import annotations

import argparse
from pathlib import Path

from training.output import emit


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="Dice and IoU of a checkpoint or ONNX model on a split or a folder")
    p.add_argument("--model", required=True,
                   help="checkpoint (.safetensors, .json or stem) or exported model (.onnx, fp32 or int8)")
    p.add_argument("--data", required=True, help="dataset folder")
    p.add_argument("--split", default="test", choices=("test", "val", "heldout", "train", "all"),
                   help="test: held-out labels; val: labels that chose the checkpoint; heldout: val + test; "
                        "train: labels the model learned (optimistic); all: every label, scored per origin")
    p.add_argument("--split-seed", type=int, default=0, help="seed for splits when the project has none")
    p.add_argument("--worst", type=int, default=3, help="how many best and worst cases to list")
    p.add_argument("--instances", action="store_true",
                   help="also COCO mAP of predicted instances (connected components per class), instance Dice "
                        "of matched teeth and identification accuracy (STS-2024)")
    p.add_argument("--min-area", type=int, default=20, help="smallest predicted instance kept (pixels)")
    p.add_argument("--tta", action="store_true", help="score predictions averaged with the mirror image's")
    p.add_argument("--out", help="also write the JSON report to this file")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from core.data.atomic import atomic_write_json
    from core.train.evaluate import evaluate

    if _is_teeth_model(args.model):
        return _teeth(args)
    report = evaluate(args.model, args.data, args.split, worst=args.worst, split_seed=args.split_seed, tta=args.tta)
    if args.instances:
        report["instances"] = _instances(args)
    if args.out:
        atomic_write_json(args.out, report)
    ci = report["ci"]
    lines = [f"{report['n']} images, {report['groups']} groups ({report['split']}): dice {report['dice']:.4f} "
             f"(95 % CI {ci[0]:.3f}-{ci[1]:.3f})  iou {report['iou']:.4f}",
             *([f"  {report['ci_note']}"] if report["ci_note"] else []),
             "  by origin: " + ", ".join(f"{o} {v['dice']:.4f} (n={v['n']})" for o, v in report["by_origin"].items()),
             f"best: {', '.join(report['best'])}", f"worst: {', '.join(report['worst'])}"]
    for name, s in report.get("per_class", {}).items():
        if s["dice"] is not None:
            lines.append(f"  {name}: dice {s['dice']:.4f} iou {s['iou']:.4f}")
    inst = report.get("instances")
    if inst:
        lines.append(f"instances: mAP@[.5:.95] {inst['map']:.4f}  mAP@.5 {inst['map50']:.4f}  "
                     f"mAR@100 {inst['mar100']:.4f}  ({inst['pred_instances']} predicted, {inst['gt_instances']} true)")
        lines.append(f"teeth (STS-2024): instance Dice {_num(inst['instance_dice'])}  identification accuracy "
                     f"{_num(inst['identification_accuracy'])}  found {inst['matched_teeth']}/{inst['true_teeth']}")
        lines += [f"  AP {name}: {ap:.4f}" for name, ap in inst["per_class_named"].items()]
    emit(report, args.json, "\n".join(lines))
    return 0


def _instances(args: argparse.Namespace) -> dict:
    """Instance mAP on the same split the pixel scores used (checkpoint or ONNX model alike)."""
    from core.data.classes import ClassDef
    from core.infer.predictor import load_predictor
    from core.interop.instance_eval import evaluate_instances
    from core.train.data import open_dataset
    from core.train.evaluate import in_split

    data = open_dataset(args.data, args.split_seed)
    samples = [s for s in data.index if s.has_mask and in_split(s, args.split)]
    predictor = load_predictor(args.model, tta=args.tta)
    classes = [ClassDef(int(c.get("value", c["id"])), str(c.get("name", c["id"])), str(c.get("color", "#E69F00")))
               for c in predictor.meta["classes"] if int(c.get("value", c["id"])) != 0]
    return evaluate_instances(predictor, samples, classes, min_area=args.min_area)


def _is_teeth_model(path: str) -> bool:
    """A numbered-teeth snapshot (``.pt``) or its ONNX export (metadata ``instances``)."""
    if Path(path).suffix.lower() == ".onnx":
        from core.errors import ToothSegError
        from core.infer.backends import read_onnx
        from core.infer.teeth import is_teeth_meta

        try:
            return is_teeth_meta(read_onnx(Path(path), Path(path).name))
        except (ToothSegError, OSError):
            return False           # the regular path says what is wrong with the file
    from core.teeth.predictor import is_teeth_checkpoint

    return is_teeth_checkpoint(path)


def _teeth(args: argparse.Namespace) -> int:
    """A numbered-teeth model (``core.teeth``, ADR 0019): pixel and tooth scores on the split; an ONNX
    export runs through the inference contract's teeth branch, as the app runs it."""
    from core.infer.predictor import load_predictor
    from core.teeth.evaluate import evaluate_teeth
    from core.train.data import open_dataset
    from core.train.evaluate import in_split

    data = open_dataset(args.data, args.split_seed)
    ids = [s.id for s in data.index if s.has_mask and in_split(s, args.split)]
    if Path(args.model).suffix.lower() == ".onnx":
        predictor = load_predictor(args.model, tta=args.tta)
    else:
        from core.teeth.predictor import TeethPredictor

        predictor = TeethPredictor(args.model, tta=args.tta)
    report = evaluate_teeth(predictor, args.data, ids)
    report.pop("per_class_named", None)
    if args.out:
        from core.data.atomic import atomic_write_json

        atomic_write_json(args.out, report)
    emit(report, args.json, f"{report['n']} panoramics ({args.split}): mean per-tooth Dice {report['dice']:.4f}\n"
         f"instances: mAP@[.5:.95] {report['map']:.4f}  mAP@.5 {report['map50']:.4f}  ({report['pred_instances']} "
         f"predicted, {report['gt_instances']} true)\nteeth (STS-2024): instance Dice {_num(report['instance_dice'])}  "
         f"identification accuracy {_num(report['identification_accuracy'])}  found {report['matched_teeth']}/"
         f"{report['true_teeth']}")
    return 0


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
