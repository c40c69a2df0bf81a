"""Gradient saliency: which pixels most change the model's foreground score (the ToothSeg seed's view).

The score is the summed foreground logit (binary) or the summed logits of every non-background
class over the predicted region; its gradient with respect to the input, absolute, smoothed and
normalised to [0, 1], is returned at the image's own size. Needs PyTorch (a checkpoint).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def gradient_saliency(checkpoint: str | Path, image: np.ndarray, smooth: float = 2.0) -> np.ndarray:
    """(H, W) float32 saliency in [0, 1] of ``checkpoint`` for a grayscale ``image``."""
    import torch

    from core.train.checkpoint_model import CheckpointModel

    ckpt = CheckpointModel(checkpoint)
    x = ckpt.preprocess(image).requires_grad_(True)
    with torch.enable_grad():
        logits = ckpt.model(x).float()
        if logits.shape[1] == 1:
            score = logits[:, 0]
            region = torch.sigmoid(score) > 0.5
        else:
            fg = logits[:, 1:]
            score = fg.max(1).values
            region = logits.argmax(1) > 0
        weight = region.float() if bool(region.any()) else torch.ones_like(score)
        (score * weight).sum().backward()
    grad = x.grad.detach().abs()[0, 0].cpu().numpy().astype(np.float32)
    if smooth > 0:
        grad = cv2.GaussianBlur(grad, (0, 0), smooth)
    h, w = image.shape[:2]
    grad = cv2.resize(grad, (w, h), interpolation=cv2.INTER_LINEAR)
    hi = float(np.percentile(grad, 99.5))
    return np.clip(grad / hi, 0, 1).astype(np.float32) if hi > 0 else np.zeros((h, w), np.float32)


def heat_rgba(saliency: np.ndarray, alpha: float = 0.75) -> np.ndarray:
    """(H, W, 4) uint8 'inferno'-like heat map; transparent where saliency is low."""
    s = np.clip(saliency, 0, 1)
    rgb = cv2.applyColorMap((s * 255).astype(np.uint8), cv2.COLORMAP_INFERNO)[..., ::-1]
    a = (np.clip((s - 0.1) / 0.5, 0, 1) * alpha * 255).astype(np.uint8)
    return np.dstack([rgb, a]).astype(np.uint8)
