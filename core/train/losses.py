"""Objective functions: masked L1 (MIM), BCE + Dice (supervised), consistency MSE (Mean Teacher)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def masked_l1(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """L1 over masked pixels only; falls back to the plain L1 when no pixel is masked (seed)."""
    mask = mask.to(pred.dtype)
    denom = mask.sum()
    if float(denom) < 1:
        return (pred - target).abs().mean()
    return ((pred - target).abs() * mask).sum() / denom


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """1 - mean soft Dice over images and channels (sigmoid outputs)."""
    prob = torch.sigmoid(logits.float())
    dims = (2, 3)
    inter = (prob * target).sum(dims)
    denom = prob.sum(dims) + target.sum(dims)
    return 1 - ((2 * inter + eps) / (denom + eps)).mean()


def bce_dice(logits: torch.Tensor, target: torch.Tensor, smoothing: float = 0.0) -> torch.Tensor:
    """BCE against targets pulled ``smoothing`` of the way towards 0.5, plus Dice on the hard targets."""
    soft = target * (1 - smoothing) + 0.5 * smoothing if smoothing else target
    return F.binary_cross_entropy_with_logits(logits.float(), soft) + soft_dice_loss(logits, target)


def seg_loss(logits: torch.Tensor, target: torch.Tensor, smoothing: float = 0.0) -> torch.Tensor:
    """BCE + Dice for a 1-channel head; cross-entropy + Dice over the classes for a softmax head.

    ``target`` is the (N, H, W) class-index map (0 = background); ``smoothing`` (recipe
    ``label_smoothing``) softens the BCE / cross-entropy targets only.
    """
    if logits.shape[1] == 1:
        return bce_dice(logits, (target > 0).float()[:, None], smoothing)
    logits = logits.float()
    onehot = F.one_hot(target, logits.shape[1]).permute(0, 3, 1, 2).float()
    prob = torch.softmax(logits, 1)[:, 1:]
    inter = (prob * onehot[:, 1:]).sum((2, 3))
    denom = prob.sum((2, 3)) + onehot[:, 1:].sum((2, 3))
    dice = 1 - ((2 * inter + 1.0) / (denom + 1.0)).mean()
    return F.cross_entropy(logits, target, label_smoothing=smoothing) + dice


def probabilities(logits: torch.Tensor) -> torch.Tensor:
    """Sigmoid for a 1-channel head, softmax otherwise (consistency and uncertainty use this)."""
    return torch.sigmoid(logits.float()) if logits.shape[1] == 1 else torch.softmax(logits.float(), 1)


def consistency_mse(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """MSE between sigmoid(student(strong)) and sigmoid(teacher(weak)); the teacher gets no gradient."""
    return F.mse_loss(probabilities(student_logits), probabilities(teacher_logits).detach())


def sigmoid_rampup(progress: float, length: float) -> float:
    """exp(-5 (1 - t)^2), the usual Mean Teacher ramp-up from 0 to 1 over ``length`` epochs."""
    if length <= 0:
        return 1.0
    t = min(max(progress / length, 0.0), 1.0)
    return float(math.exp(-5.0 * (1.0 - t) ** 2))
