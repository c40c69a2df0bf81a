"""Sliding-window inference with Gaussian blending, for images larger than the training window.

Tiles overlap; each tile's logits are weighted by a Gaussian that is highest at the tile centre
(where the network saw full context) and small but non-zero at its edges, so tile borders leave
no seams (the nnU-Net recipe, sigma = window / 8).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def tile_starts(length: int, window: int, overlap: float) -> list[int]:
    """Start offsets covering [0, length) with windows of ``window`` and at least ``overlap`` overlap."""
    if length <= window:
        return [0]
    step = max(1, int(window * (1.0 - overlap)))
    count = int(np.ceil((length - window) / step)) + 1
    return [int(round(i * (length - window) / (count - 1))) for i in range(count)]


def gaussian_weights(height: int, width: int, sigma_scale: float = 0.125) -> np.ndarray:
    def axis(n: int) -> np.ndarray:
        centre = (n - 1) / 2.0
        sigma = max(n * sigma_scale, 1e-3)
        return np.exp(-((np.arange(n) - centre) ** 2) / (2 * sigma**2))

    w = np.outer(axis(height), axis(width)).astype(np.float32)
    w /= w.max()
    return np.maximum(w, 1e-3).astype(np.float32)


def sliding_forward(
    forward: Callable[[np.ndarray], np.ndarray],
    image: np.ndarray,
    window: tuple[int, int],
    overlap: float = 0.25,
    batch_size: int = 4,
) -> np.ndarray:
    """Blend ``forward`` (N, C, h, w) -> (N, K, h, w) over tiles of ``image`` (C, H, W) into (K, H, W)."""
    _, height, width = image.shape
    wh, ww = min(window[0], height), min(window[1], width)
    weights = gaussian_weights(wh, ww)
    boxes = [(y, x) for y in tile_starts(height, wh, overlap) for x in tile_starts(width, ww, overlap)]
    total: np.ndarray | None = None
    norm = np.zeros((height, width), np.float32)
    for i in range(0, len(boxes), batch_size):
        chunk = boxes[i:i + batch_size]
        tiles = np.stack([image[:, y:y + wh, x:x + ww] for y, x in chunk])
        logits = forward(tiles)
        if total is None:
            total = np.zeros((logits.shape[1], height, width), np.float32)
        for (y, x), tile in zip(chunk, logits, strict=True):
            total[:, y:y + wh, x:x + ww] += tile * weights
            norm[y:y + wh, x:x + ww] += weights
    return total / norm
