"""Evaluation of a checkpoint on a split or a whole folder: Dice and IoU per image, per class, mean.

Scores are computed at each mask's own resolution (the prediction is resized up), so they are
comparable across models trained at different sizes. A binary model is scored against label
maps with every non-zero label as foreground.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from core.data.masks import load_image, load_mask
from core.data.origins import ORIGINS, origin
from core.errors import ToothSegError
from core.jobs import CancelToken, Progress
from core.train.data import Dataset2D, open_dataset
from core.train.metrics import dice_iou

SPLIT_CHOICES = ("test", "val", "heldout", "train", "all")


def in_split(sample, split: str) -> bool:
    """``heldout`` = val + test labels (never a training step's input); ``all`` = every label."""
    if split == "all":
        return True
    if split == "heldout":
        return sample.split in ("val", "test")
    return sample.split == split


def evaluate(model_path: str | Path, data: str | Path | Dataset2D, split: str = "test", worst: int = 3,
             progress: Progress | None = None, cancel: CancelToken | None = None,
             split_seed: int = 0, tta: bool = False) -> dict[str, Any]:
    """A JSON-able report: {"dice", "iou", "dice_raw", "n", "per_image", "per_class", "by_origin", ...}.

    ``model_path`` is a checkpoint or an exported ``.onnx`` (fp32 or int8): both run through the same
    ``SegmentationPredictor`` and inference contract the app uses, so the score is of the mask a user
    is shown; ``dice_raw`` is the thresholded network output before the component rules. ``tta``
    averages each image's logits with its mirror image's, as the app does with that option on. Every
    row carries its ``origin`` (train / val / test / accepted) and ``by_origin`` scores each apart, so
    "all" never hides that it mixes in images the model was trained on."""
    from core.infer.predictor import load_predictor
    from core.infer.quality import assess

    if split not in SPLIT_CHOICES:
        raise ToothSegError(f"unknown split {split!r}; expected one of {', '.join(SPLIT_CHOICES)}")
    if not isinstance(data, Dataset2D):  # the folder first: a bad folder is refused before a model loads
        data = open_dataset(data, split_seed)
    predictor = load_predictor(model_path, tta=tta)
    contract = predictor.contract
    from core.data.groups import apply_groups, find_groups, stored_groups

    if stored_groups(data.project) is None:  # no grouping kept yet: find one, so the interval is over groups
        apply_groups(data.index, find_groups(data.index, cancel=cancel))
    samples = [s for s in data.index if s.has_mask and in_split(s, split)]
    if not samples:
        raise ToothSegError(f"no labeled images in split '{split}' of {data.root}; try --split all")
    trained = set(predictor.meta.get("trained_splits") or ["train"])  # val too for a model measured by folds
    values = list(contract.values) if not contract.binary else [0, contract.foreground_value]
    names = [c.get("name", f"class {c['id']}") for c in predictor.meta.get("classes", [])][1:] or ["foreground"]
    per_image: list[dict[str, Any]] = []
    for i, s in enumerate(samples):
        if cancel is not None:
            cancel.raise_if_cancelled("evaluation")
        image = load_image(s)
        mask = load_mask(s, (image.shape[1], image.shape[0]))
        pred, info = assess(predictor, image)
        row = _score(s.id, pred.mask, mask, values, names, contract.binary)
        # the estimated Dice next to the true one, and the signals a later calibration refits from
        row.update(quality=info["quality"], soft=info["soft"], flip=info["flip"],
                   area_frac=float(pred.stats["area_frac"]))
        row["dice_raw"] = _score(s.id, pred.labels, mask, values, names, contract.binary)["dice"]
        row["origin"] = "train" if origin(s) in trained else origin(s)
        row["group"] = s.group or s.id  # acquisition group (core.data.groups): the unit of the interval
        per_image.append(row)
        if progress is not None:
            progress(i + 1, len(samples), s.id)
    dice = float(np.mean([r["dice"] for r in per_image]))
    iou = float(np.mean([r["iou"] for r in per_image]))
    dice_raw = float(np.mean([r["dice_raw"] for r in per_image]))
    ranked = sorted(per_image, key=lambda r: r["dice"])
    report: dict[str, Any] = {
        "dice": dice, "iou": iou, "dice_raw": dice_raw, "n": len(per_image), "split": split, "tta": tta,
        "model": str(model_path), "precision": predictor.meta.get("precision", "fp32"),
        "binary": contract.binary, "per_image": per_image, "by_origin": by_origin(per_image),
        "best": [r["id"] for r in ranked[::-1][:worst]], "worst": [r["id"] for r in ranked[:worst]],
    }
    if not contract.binary:
        report["per_class"] = {
            name: {"dice": _nanmean([r["per_class"][name]["dice"] for r in per_image]),
                   "iou": _nanmean([r["per_class"][name]["iou"] for r in per_image])} for name in names}
    from core.train.confidence import dice_summary

    interval = dice_summary([r["dice"] for r in per_image], [r["group"] for r in per_image])
    report.update(ci=interval["ci"], groups=interval["groups"], ci_ok=interval["ci_ok"], ci_note=interval["ci_note"])
    return report


def by_origin(rows: list[dict[str, Any]]) -> dict[str, dict[str, float | int]]:
    """{origin: {"n", "dice"}} for the origins present, in ORIGINS order."""
    out: dict[str, dict[str, float | int]] = {}
    for o in ORIGINS:
        dices = [r["dice"] for r in rows if r.get("origin") == o]
        if dices:
            out[o] = {"n": len(dices), "dice": float(np.mean(dices))}
    return out


def _score(sid: str, pred: np.ndarray, mask: np.ndarray, values: list[int], names: list[str],
           binary: bool) -> dict[str, Any]:
    if binary:
        d, j = dice_iou(pred > 0, mask > 0)
        return {"id": sid, "dice": d, "iou": j}
    per_class: dict[str, dict[str, float | None]] = {}
    present = []
    for k, name in enumerate(names, start=1):
        p, t = pred == values[k], mask == values[k]
        if not p.any() and not t.any():
            per_class[name] = {"dice": None, "iou": None}
            continue
        d, j = dice_iou(p, t)
        per_class[name] = {"dice": d, "iou": j}
        present.append((d, j))
    d = float(np.mean([x[0] for x in present])) if present else 1.0
    j = float(np.mean([x[1] for x in present])) if present else 1.0
    return {"id": sid, "dice": d, "iou": j, "per_class": per_class}


def _nanmean(xs: list[float | None]) -> float | None:
    vals = [x for x in xs if x is not None]
    return float(np.mean(vals)) if vals else None
