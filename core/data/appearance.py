"""An image's appearance as a small vector: what acquisition grouping and label-next coverage compare.

Grey, area-resized to ``side`` x ``side``, zero mean and unit variance, so brightness and gain do not
count and clips, probe positions or machines still differ. Lives in core.data because grouping a
dataset (core.data.groups) needs it before any training code exists.
"""

from __future__ import annotations

import cv2
import numpy as np

from core.data.io import to_unit_float


def appearance_vector(image: np.ndarray, side: int) -> np.ndarray:
    """(side * side,) float32: grey, area-resized, zero-mean unit-variance."""
    img = to_unit_float(image)
    if img.ndim == 3:
        img = img.mean(axis=2)
    small = cv2.resize(img.astype(np.float32), (side, side), interpolation=cv2.INTER_AREA).ravel()
    return (small - small.mean()) / (small.std() + 1e-6)
