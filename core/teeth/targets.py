"""What the FDI-instance network learns per pixel, built from per-tooth masks (ADR 0019).

Instead of 32 (or 52) competing tooth classes the network predicts four factors a few hundred CPU
steps can learn: tooth vs background, the tooth *core* (each tooth shrunk away from its neighbours,
so touching teeth come apart as separate seeds), the quadrant side (4 classes) and the position in
the quadrant (permanent 1-8, deciduous 1-5: 13 classes). The FDI number is put back together per
instance by ``core.teeth.numbering``.
"""

from __future__ import annotations

import cv2
import numpy as np

from core.data.classes import mirror_value

# output channels of the network
FG, CORE = 0, 1
QUADRANT = slice(2, 6)          # permanent quadrant 1-4 (deciduous 5-8 share them: 5 -> 1, ...)
POSITION = slice(6, 19)         # permanent positions 1-8, then deciduous 1-5
OUT_CHANNELS = 19
IGNORE = 255


def quadrant_index(value: int) -> int:
    """0..3 for FDI quadrants 1..4 and 5..8; IGNORE for anything that is not a tooth."""
    q, t = divmod(int(value), 10)
    return (q - 1) % 4 if 1 <= q <= 8 and 1 <= t <= (8 if q <= 4 else 5) else IGNORE


def position_index(value: int) -> int:
    """0..7 for permanent positions 1..8, 8..12 for deciduous positions 1..5; IGNORE otherwise."""
    q, t = divmod(int(value), 10)
    if 1 <= q <= 4 and 1 <= t <= 8:
        return t - 1
    if 5 <= q <= 8 and 1 <= t <= 5:
        return 8 + t - 1
    return IGNORE


def fdi_number(quadrant: int, position: int) -> int:
    """The FDI number of quadrant index 0..3 and position index 0..12."""
    if position < 8:
        return (quadrant + 1) * 10 + position + 1
    return (quadrant + 5) * 10 + position - 8 + 1


QUADRANT_LUT = np.array([quadrant_index(v) for v in range(256)], np.uint8)
POSITION_LUT = np.array([position_index(v) for v in range(256)], np.uint8)
MIRROR_LUT = np.array([mirror_value(v) if v else 0 for v in range(256)], np.uint8)


def load_instances(path) -> tuple[np.ndarray, np.ndarray]:
    """(fdi (N,), masks bool (N, H, W)) from a UFBA-425 style ``instances/<stem>.npz``."""
    d = np.load(path)
    h, w = (int(v) for v in d["shape"][1:])
    masks = np.unpackbits(d["masks"], axis=-1)[..., :w].astype(bool).reshape(-1, h, w)
    return d["fdi"].astype(np.int32), masks


def core_map(masks: np.ndarray, shrink: int = 2) -> np.ndarray:
    """uint8 (H, W): 1 inside each tooth shrunk by ``shrink`` px and kept 1 px away from every other
    tooth, so that neighbouring cores never touch (they seed one instance each)."""
    if masks.shape[0] == 0:
        return np.zeros(masks.shape[1:], np.uint8)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * shrink + 1, 2 * shrink + 1))
    k3 = np.ones((3, 3), np.uint8)
    count = masks.sum(0, dtype=np.int32)
    core = np.zeros(masks.shape[1:], np.uint8)
    for m in masks:
        m8 = m.astype(np.uint8)
        others = ((count - m8) > 0).astype(np.uint8)
        inner = cv2.erode(m8, k) & (1 - cv2.dilate(others, k3))
        core |= inner
    return core

