"""`toothseg prompt`: the mask of one structure from a box (and optional clicks), with LiteMedSAM on ONNX."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.errors import ToothSegError
from training.output import emit


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prompt", help="segment the structure inside a box with LiteMedSAM (no training needed)")
    p.add_argument("image", type=Path, help="the image")
    p.add_argument("--box", type=float, nargs=4, required=True, metavar=("X0", "Y0", "X1", "Y1"),
                   help="box around the structure, in image pixels")
    p.add_argument("--point", type=float, nargs=3, action="append", default=[], metavar=("X", "Y", "LABEL"),
                   help="refining click: LABEL 1 inside the structure, 0 outside (repeatable)")
    p.add_argument("--out", type=Path, required=True, help="mask PNG to write (0 / 255)")
    p.add_argument("--models", type=Path, default=None,
                   help="LiteMedSAM model folder (e.g. from prompt-finetune); default: the dataset folder's tuned "
                        "one (--data, or a folder above IMAGE with a project), else the installed one")
    p.add_argument("--data", type=Path, default=None,
                   help="dataset folder whose decoder tuned on its labels to use (default: found above IMAGE)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_prompt)

    f = sub.add_parser("prompt-finetune", help="fine-tune LiteMedSAM's decoder on a folder's labels (needs torch)")
    f.add_argument("--data", type=Path, required=True, help="dataset folder with masks")
    f.add_argument("--out", type=Path, default=None,
                   help="model folder to write (default: the project's litemedsam/, which the box tool then uses)")
    f.add_argument("--steps", type=int, default=200)
    f.add_argument("--lr", type=float, default=3e-5)
    f.add_argument("--max-images", type=int, default=0, help="use at most this many labeled images (0: all)")
    f.add_argument("--keep-if-better", action="store_true",
                   help="as Train on my labels does: hold out labeled groups, keep the tuned decoder only if it "
                        "beats the shipped one there (writes the project's litemedsam/)")
    f.add_argument("--budget", type=float, default=None,
                   help="cap for --keep-if-better in CPU seconds of the tuning thread (encoding + training; "
                        "default 420): the work is the encodings and --steps, the cap only stops a runaway job")
    f.add_argument("--json", action="store_true", help="print one JSON object")
    f.set_defaults(func=cmd_finetune)


def cmd_prompt(args: argparse.Namespace) -> int:
    import numpy as np

    from core.data.io import MaskEncoding, read_image, write_mask
    from core.prompt.session import PromptSegmenter

    if any(int(lab) not in (0, 1) for *_, lab in args.point):
        raise ToothSegError("--point LABEL must be 1 (inside) or 0 (outside)")
    image = read_image(args.image)
    root = args.data if args.models is None else None
    if root is None and args.models is None:
        root = _project_above(args.image)
    segmenter = PromptSegmenter(args.models, root=root)
    result = segmenter.segment(image, args.box, [(x, y, int(lab)) for x, y, lab in args.point])
    warning = segmenter.manifest.get("fallback", "")
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    if not args.json:
        print(f"LiteMedSAM on {segmenter.provider}", file=sys.stderr)
    write_mask(args.out, result.mask.astype(np.uint8), MaskEncoding("binary255"))
    summary = {"image": str(args.image), "out": str(args.out), "provider": segmenter.provider,
               "model": segmenter.manifest.get("model"), "decoder": _decoder_kind(segmenter.manifest),
               "models": str(segmenter.folder), **result.summary()}
    if warning:
        summary["warning"] = warning
    text = (f"{summary['area_px']} px in the box -> {args.out} (predicted IoU {summary['predicted_iou']:.2f}, "
            f"encoder {summary['encode_s']:.2f} s, decoder {1000 * summary['decode_s']:.0f} ms)")
    emit(summary, args.json, text)
    return 0


def _project_above(image: Path) -> Path | None:
    """The nearest folder above ``image`` (up to 3 levels) that has a tuned decoder in its project."""
    from core.prompt.store import MANIFEST_FILE, project_folder

    for folder in list(Path(image).resolve().parents)[:3]:
        if (project_folder(folder) / MANIFEST_FILE).exists():
            return folder
    return None


def _decoder_kind(manifest: dict) -> str:
    if manifest.get("fallback"):
        return "shipped (project decoder unusable)"
    return "tuned on the folder's labels" if manifest.get("finetuned") else "shipped"


def cmd_finetune(args: argparse.Namespace) -> int:
    from core.data.layouts import load_index

    try:
        from core.prompt.finetune import finetune_decoder
    except ImportError as exc:
        raise ToothSegError(f"prompt-finetune needs PyTorch, which this build lacks ({exc}); use the full build") from exc

    if args.keep_if_better:
        from core.prompt.tune_on_labels import tune_on_labels

        budget = {} if args.budget is None else {"budget_s": args.budget}
        result = tune_on_labels(args.data, steps=args.steps, lr=args.lr, **budget)
        emit(result, args.json, result["message"])
        return 0
    labeled = [s for s in load_index(args.data) if s.has_mask]
    if args.max_images:
        labeled = labeled[: args.max_images]
    if not labeled:
        raise ToothSegError(f"{args.data}: no labeled image to fine-tune on")
    if args.out is None:
        from core.prompt.store import project_folder

        args.out = project_folder(args.data)
    manifest = finetune_decoder([(s.image, s.mask) for s in labeled], args.out, steps=args.steps, lr=args.lr)
    done = manifest["finetuned"]
    summary = {"out": str(args.out), **done}
    emit(summary, args.json, f"LiteMedSAM decoder fine-tuned on {done['structures']} structures of "
                             f"{done['images']} images in {done['seconds']} s -> {args.out} (toothseg prompt --models)")
    return 0
