"""Small previews for the dataset browser, decoded at reduced size where the format allows."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from core.annotation.render import auto_window, window_uint8
from core.data.io import checked_bytes, decode, read_image


def thumbnail(path: str | Path, size: int = 72) -> np.ndarray:
    """A uint8 grayscale preview whose longer side is ``size`` pixels."""
    path = Path(path)
    img = None
    if path.suffix.lower() in (".jpg", ".jpeg", ".png"):  # header and chunks checked: no bomb, no libpng noise
        img = decode(checked_bytes(path), cv2.IMREAD_REDUCED_GRAYSCALE_4)
    if img is None:
        raw = read_image(path)
        img = window_uint8(raw, auto_window(raw))
    h, w = img.shape[:2]
    scale = size / max(h, w)
    return cv2.resize(img, (max(int(w * scale), 1), max(int(h * scale), 1)), interpolation=cv2.INTER_AREA)
