"""Scores of the numbered-teeth predictor on held-out panoramics: mean per-tooth Dice (the pixel
convention of ``core.train.evaluate``: per image, the mean over the teeth present in the truth or the
prediction), COCO mAP and the STS-2024 tooth measures (``core.interop.instance_eval``)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.data.classes import fdi_classes, fdi_mixed_classes
from core.data.masks import load_mask
from core.data.sample import Sample
from core.interop.instance_eval import evaluate_instances
from core.metrics import dice_iou
from core.teeth.recipe import labeled_samples


class _Recording:
    """Passes predictions through and keeps their label maps (and CPU seconds) for the pixel scores."""

    def __init__(self, predictor: Any):
        self.inner, self.meta, self.masks, self.cpu = predictor, predictor.meta, [], []

    def predict(self, image: np.ndarray):
        t = time.process_time()
        pred = self.inner.predict(image)
        self.cpu.append(time.process_time() - t)
        self.masks.append(pred.mask)
        return pred


def per_tooth_dice(pred: np.ndarray, truth: np.ndarray, values: Sequence[int]) -> tuple[float, dict[int, float]]:
    per = {}
    for v in values:
        p, t = pred == v, truth == v
        if p.any() or t.any():
            per[v] = dice_iou(p, t)[0]
    return (float(np.mean(list(per.values()))) if per else 1.0), per


def evaluate_teeth(predictor: Any, root: str | Path, stems: Sequence[str]) -> dict[str, Any]:
    """Pixel and instance scores of ``predictor`` on the labeled panoramics ``stems`` of ``root``."""
    return evaluate_teeth_samples(predictor, labeled_samples(root, stems))


def evaluate_teeth_samples(predictor: Any, samples: Sequence[Sample], numbers: Sequence[int] | None = None
                           ) -> dict[str, Any]:
    """``evaluate_teeth`` on samples (a project's split); ``per_image`` holds each panoramic's id and
    mean per-tooth Dice, the rows an interval over acquisition groups is computed from. ``numbers``: the
    FDI numbers scored (default the 32 permanent teeth; a mixed-dentition project adds 51-85)."""
    rec = _Recording(predictor)
    classes = [c for c in fdi_mixed_classes() if c.value in set(numbers)] if numbers else fdi_classes()
    report = evaluate_instances(rec, samples, classes, min_area=1)
    values = [c.value for c in classes]
    image_dice, per_class = [], {v: [] for v in values}
    for s, pred in zip(samples, rec.masks, strict=True):
        truth = load_mask(s, (pred.shape[1], pred.shape[0]))
        d, per = per_tooth_dice(pred, truth, values)
        image_dice.append(d)
        for v, x in per.items():
            per_class[v].append(x)
    report["dice"] = float(np.mean(image_dice))
    report["per_image"] = [{"id": s.id, "dice": float(d)} for s, d in zip(samples, image_dice, strict=True)]
    report["per_tooth_dice"] = {v: (float(np.mean(x)) if x else None) for v, x in per_class.items()}
    report["cpu_s_per_image"] = float(np.mean(rec.cpu))
    return report
