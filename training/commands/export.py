"""`toothseg export`: checkpoint -> ONNX (fp32, optional int8) with metadata and a parity check."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.export.onnx import TOLERANCE, export_onnx
from training.output import emit


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a checkpoint to ONNX (checked against PyTorch on real images)")
    p.add_argument("--model", type=Path, required=True, help="checkpoint (.json, .safetensors or stem)")
    p.add_argument("--out", type=Path, required=True, help="output .onnx file (int8 goes to <stem>.int8.onnx)")
    p.add_argument("--images", type=Path, help="real images for the parity check (default: --calibration, "
                                               "else the checkpoint's training data folder)")
    p.add_argument("--int8", action="store_true", help="also write a static int8 (QDQ, per-channel) model")
    p.add_argument("--calibration", type=Path, help="images (a dataset folder with masks for Dice) for int8")
    p.add_argument("--policy", choices=("resize", "sliding"), help="how large images reach the network")
    p.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), help="network input / window size")
    p.add_argument("--overlap", type=float, help="sliding-window overlap fraction (default 0.25)")
    p.add_argument("--tolerance", type=float, default=TOLERANCE, help="max |ONNX - PyTorch| on logits")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    if args.int8 and not (args.calibration or args.images):
        print("note: no --calibration given; calibrating int8 on the checkpoint's training images", file=sys.stderr)
    report = export_onnx(args.model, args.out, images=args.images, int8=args.int8, calibration=args.calibration,
                         policy=args.policy, overlap=args.overlap, size=args.size, tolerance=args.tolerance)
    lines = [f"wrote {report['out']} (max |ONNX - PyTorch| = {report['max_abs_diff']:.2e} on "
             f"{report['parity_images']} real images)",
             f"PyTorch {report['torch_ms']:.1f} ms, ONNX Runtime {report['onnx_ms']:.1f} ms on {report['provider']}"]
    if "int8_out" in report:
        line = f"wrote {report['int8_out']}: int8 {report['int8_ms']:.1f} ms vs fp32 {report['fp32_ms']:.1f} ms"
        if "dice_drop" in report:
            line += (f"; Dice fp32 {report['dice_fp32']:.4f}, int8 {report['dice_int8']:.4f} "
                     f"(drop {report['dice_drop']:+.4f})")
        lines.append(line + f"; int8 vs fp32 agreement Dice {report['dice_int8_vs_fp32']:.4f}")
    emit(report, args.json, "\n".join(lines))
    return 0
