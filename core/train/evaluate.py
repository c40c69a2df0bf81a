"""Evaluation of a checkpoint on a split or a whole folder: Dice and IoU per image, per class, mean.

Scores are computed at each mask's own resolution (the prediction is resized up), so they are
comparable across models trained at different sizes. A binary model is scored against label
maps with every non-zero label as foreground.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from core.data.io import to_unit_float
from core.data.masks import load_image, load_mask
from core.errors import ToothSegError
from core.jobs import CancelToken, Progress
from core.train.data import Dataset2D, open_dataset
from core.train.metrics import dice_iou
from core.train.predict import CheckpointModel

SPLIT_CHOICES = ("test", "val", "train", "all")


def evaluate(model_path: str | Path, data: str | Path | Dataset2D, split: str = "test", worst: int = 3,
             progress: Progress | None = None, cancel: CancelToken | None = None,
             split_seed: int = 0, tta: bool = False) -> dict[str, Any]:
    """A JSON-able report: {"dice", "iou", "dice_raw", "n", "per_image", "per_class", "best", "worst", ...}.

    Scores the mask a user is shown, after the model's post-processing rules; ``dice_raw`` is the
    thresholded network output before them, so a report shows what the rules add or cost. ``tta``
    averages each image's logits with its mirror image's, as the app does with that option on."""
    if split not in SPLIT_CHOICES:
        raise ToothSegError(f"unknown split {split!r}; expected one of {', '.join(SPLIT_CHOICES)}")
    ckpt = CheckpointModel(model_path)
    if not isinstance(data, Dataset2D):
        data = open_dataset(data, split_seed)
    samples = [s for s in data.index if s.has_mask and (split == "all" or s.split == split)]
    if not samples:
        raise ToothSegError(f"no labeled images in split '{split}' of {data.root}; try --split all")
    values = ckpt.class_values()
    names = [c.get("name", f"class {c['id']}") for c in ckpt.meta.get("classes", [])][1:] or ["foreground"]
    per_image: list[dict[str, Any]] = []
    for i, s in enumerate(samples):
        if cancel is not None:
            cancel.raise_if_cancelled("evaluation")
        image = load_image(s)
        mask = load_mask(s, (image.shape[1], image.shape[0]))
        raw = ckpt.labels(ckpt.probabilities(to_unit_float(image), tta=tta))
        row = _score(s.id, ckpt.predictor.apply_postprocess(raw), mask, values, names, ckpt.binary)
        row["dice_raw"] = _score(s.id, raw, mask, values, names, ckpt.binary)["dice"]
        per_image.append(row)
        if progress is not None:
            progress(i + 1, len(samples), s.id)
    dice = float(np.mean([r["dice"] for r in per_image]))
    iou = float(np.mean([r["iou"] for r in per_image]))
    dice_raw = float(np.mean([r["dice_raw"] for r in per_image]))
    ranked = sorted(per_image, key=lambda r: r["dice"])
    report: dict[str, Any] = {
        "dice": dice, "iou": iou, "dice_raw": dice_raw, "n": len(per_image), "split": split, "tta": tta,
        "model": str(model_path),
        "binary": ckpt.binary, "per_image": per_image,
        "best": [r["id"] for r in ranked[::-1][:worst]], "worst": [r["id"] for r in ranked[:worst]],
    }
    if not ckpt.binary:
        report["per_class"] = {
            name: {"dice": _nanmean([r["per_class"][name]["dice"] for r in per_image]),
                   "iou": _nanmean([r["per_class"][name]["iou"] for r in per_image])} for name in names}
    return report


def _score(sid: str, pred: np.ndarray, mask: np.ndarray, values: list[int], names: list[str],
           binary: bool) -> dict[str, Any]:
    if binary:
        d, j = dice_iou(pred > 0, mask > 0)
        return {"id": sid, "dice": d, "iou": j}
    per_class: dict[str, dict[str, float | None]] = {}
    present = []
    for k, name in enumerate(names, start=1):
        p, t = pred == k, mask == values[k]
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
