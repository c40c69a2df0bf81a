"""Image pre-processing shared by training and inference (torch-free, so the slim build has it).

Anything a recipe does to an image before normalisation must happen identically when the exported
model runs in the app; it is therefore recorded in the model's metadata and applied from here.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np


def bilateral(img: np.ndarray) -> np.ndarray:
    """The ToothSeg seed's FBF step: edge-preserving smoothing of a [0, 1] float image."""
    return cv2.bilateralFilter(img.astype(np.float32), d=5, sigmaColor=0.1, sigmaSpace=5.0)


def preprocess_spec(recipe: dict[str, Any]) -> dict[str, Any]:
    """The part of a training recipe inference must repeat."""
    return {"bilateral": bool(recipe.get("bilateral", False))}


def apply_preprocess(img: np.ndarray, spec: dict[str, Any] | None) -> np.ndarray:
    """Apply a ``preprocess_spec`` to a [0, 1] float image (models without one get none)."""
    if spec and spec.get("bilateral"):
        return bilateral(img)
    return img


def to_network_size(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The one resize of an image (H, W) or (H, W, C) to the network's (height, width), as float32, for
    training, export samples and every inference path alike: area averaging when a side shrinks (no
    aliasing), bilinear when the image is enlarged."""
    h, w = int(size[0]), int(size[1])
    img = img.astype(np.float32)  # always a new array: callers may modify it
    if img.shape[:2] == (h, w):
        return img
    shrink = img.shape[0] > h or img.shape[1] > w
    out = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return out.reshape(h, w, *img.shape[2:])  # cv2 drops a trailing channel axis of 1
