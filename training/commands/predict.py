"""`toothseg predict`: masks, overlays and stats.csv for a file or folder, from an ONNX model or checkpoint."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.data.io import IMAGE_EXTENSIONS
from core.errors import ImageReadError
from core.infer.folder import list_inputs, predict_folder
from core.infer.predictor import load_predictor
from training.output import emit


class _Bar:
    """tqdm progress on stderr (silent when stderr is not a terminal or with --json)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.bar = None

    def __call__(self, done: int, total: int, message: str) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="img", file=sys.stderr)
        self.bar.set_postfix_str(message[-40:], refresh=False)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="predict masks for an image or a folder (ONNX model or checkpoint)")
    p.add_argument("--model", type=Path, required=True, help="exported .onnx, or a checkpoint for PyTorch")
    p.add_argument("--input", type=Path, required=True, help="an image or a folder of images")
    p.add_argument("--out", type=Path, required=True, help="output folder (masks/, overlays/, stats.csv)")
    p.add_argument("--no-overlays", action="store_true", help="write masks and stats only")
    p.add_argument("--backend", choices=("auto", "onnx", "torch"), default="auto")
    p.add_argument("--tta", action="store_true", help="also predict the mirror image and average (twice the time)")
    p.add_argument("--no-quality", action="store_true",
                   help="skip the estimated Dice (stats.csv quality column left empty)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_predict)


def cmd_predict(args: argparse.Namespace) -> int:
    predictor = load_predictor(args.model, args.backend, tta=args.tta)  # a bad model is named first
    if not list_inputs(args.input, exclude=args.out):
        raise ImageReadError(f"{args.input}: no images found (looked for {', '.join(IMAGE_EXTENSIONS)})")
    print(f"running on {predictor.provider}" + (" with flip test-time augmentation" if args.tta else ""),
          file=sys.stderr)
    bar = _Bar(not args.json)
    try:
        summary = predict_folder(predictor, args.input, args.out, progress=bar, overlays=not args.no_overlays,
                                 quality=not args.no_quality)
    finally:
        bar.close()
    for bad in summary["failed"]:
        print(f"skipped {bad['file']}: {bad['error']}", file=sys.stderr)
    text = (f"{summary['written']}/{summary['images']} images predicted on {summary['provider']} in "
            f"{summary['seconds']:.1f} s -> {summary['out']} (stats: {summary['stats_csv']})")
    if summary["failed"]:
        text += f"; {len(summary['failed'])} skipped"
    emit(summary, args.json, text)
    return 1 if summary["images"] and not summary["written"] else 0
