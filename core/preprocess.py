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
