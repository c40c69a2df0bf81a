"""Dice and IoU, per image and per class, with the convention that two empty masks agree fully."""

from __future__ import annotations

import torch

from core.metrics import dice_iou

__all__ = ["dice_iou", "predict_labels", "class_scores"]


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
