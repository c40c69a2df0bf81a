"""Dice and IoU of masks: the one definition every score in the product uses (training, evaluation,
export checks, benchmarks). NumPy only, so the viewer build without torch scores the same way."""

from __future__ import annotations

import numpy as np


def dice_iou(pred: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """Dice and IoU of two masks, non-zero = foreground (1.0 each when both are empty)."""
    pred, target = pred.astype(bool), target.astype(bool)
    inter = int(np.logical_and(pred, target).sum())
    total = int(pred.sum()) + int(target.sum())
    if total == 0:
        return 1.0, 1.0
    return 2.0 * inter / total, inter / (total - inter)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice of two masks (non-zero = foreground)."""
    return dice_iou(a, b)[0]
