"""Dice and IoU, per image and per class, with the convention that two empty masks agree fully."""

from __future__ import annotations

import numpy as np
import torch


def dice_iou(pred: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """Dice and IoU of two boolean masks (1.0 each when both are empty)."""
    pred, target = pred.astype(bool), target.astype(bool)
    inter = int(np.logical_and(pred, target).sum())
    total = int(pred.sum()) + int(target.sum())
    if total == 0:
        return 1.0, 1.0
    return 2.0 * inter / total, inter / (total - inter)


def predict_labels(logits: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """(N, H, W) class indices: sigmoid > threshold for a 1-channel head, argmax otherwise."""
    if logits.shape[1] == 1:
        return (torch.sigmoid(logits.float()[:, 0]) > threshold).long()
    return logits.argmax(1)


def class_scores(pred: torch.Tensor, target: torch.Tensor, classes: int) -> torch.Tensor:
    """(N, K, 2) Dice and IoU per image for classes 1..K; NaN where a class is absent from both."""
    out = torch.full((pred.shape[0], classes, 2), float("nan"))
    for k in range(1, classes + 1):
        p, t = pred == k, target == k
        inter = (p & t).sum((1, 2)).float()
        total = p.sum((1, 2)).float() + t.sum((1, 2)).float()
        present = total > 0
        out[:, k - 1, 0] = torch.where(present, 2 * inter / total.clamp(min=1), out[:, k - 1, 0])
        out[:, k - 1, 1] = torch.where(present, inter / (total - inter).clamp(min=1), out[:, k - 1, 1])
    return out


def image_means(scores: torch.Tensor) -> torch.Tensor:
    """(N, 2) mean over present classes per image; an image with nothing in either mask scores 1."""
    mean = torch.nanmean(scores, dim=1)
    return torch.nan_to_num(mean, nan=1.0)
