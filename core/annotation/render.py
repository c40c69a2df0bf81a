"""Colouring label maps for display (numpy only): class LUTs, fill or contour, error maps, windowing.

Kept out of the GUI so the per-stroke repaint is a cheap LUT lookup on the dirty rectangle that
tests can check without a window.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from core.data.classes import ClassDef

FP_COLOR = (213, 94, 0)    # Okabe-Ito vermillion: predicted but not in the mask
FN_COLOR = (0, 114, 178)   # Okabe-Ito blue: in the mask but missed by the prediction


def hex_rgb(color: str) -> tuple[int, int, int]:
    color = color.lstrip("#")
    return int(color[0:2], 16), int(color[2:4], 16), int(color[4:6], 16)


def rgb_hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02X}{:02X}{:02X}".format(*rgb)


def class_lut(classes: Iterable[ClassDef], hidden: Iterable[int] = (), unknown: str = "#FF00FF") -> np.ndarray:
    """256x4 RGBA table: class colours opaque, background and hidden classes transparent.

    Values with no class (a stray label) show in magenta so they are noticed, not hidden.
    """
    lut = np.zeros((256, 4), np.uint8)
    lut[1:] = (*hex_rgb(unknown), 255)
    for c in classes:
        if 0 < c.value < 256:
            lut[c.value] = (*hex_rgb(c.color), 255)
    for v in hidden:
        if 0 <= v < 256:
            lut[v] = 0
    lut[0] = 0
    return lut


def boundary(labels: np.ndarray) -> np.ndarray:
    """Pixels whose 4-neighbourhood holds another label (the outline of every region)."""
    edge = np.zeros(labels.shape, bool)
    edge[1:, :] |= labels[1:, :] != labels[:-1, :]
    edge[:-1, :] |= labels[:-1, :] != labels[1:, :]
    edge[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    edge[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    return edge & (labels > 0)


def _packed(lut: np.ndarray) -> np.ndarray:
    """The 256x4 LUT as 256 uint32 words: one 4-byte gather per pixel is ~4x faster than 4 gathers."""
    return np.ascontiguousarray(lut, dtype=np.uint8).view(np.uint32).ravel()


def colorize(labels: np.ndarray, lut: np.ndarray, contour: bool = False) -> np.ndarray:
    """RGBA image (H, W, 4) uint8 of a label map."""
    rgba = np.take(_packed(lut), labels).view(np.uint8).reshape(*labels.shape, 4)
    if contour:
        rgba[~boundary(labels)] = 0
    return rgba


def colorize_region(labels: np.ndarray, lut: np.ndarray, rgba: np.ndarray, box: tuple[int, int, int, int],
                    contour: bool = False) -> None:
    """Recolour only ``box`` of a full-size RGBA buffer (one pixel of margin for contours)."""
    y0, y1, x0, x1 = box
    if contour:
        h, w = labels.shape
        y0, y1, x0, x1 = max(y0 - 1, 0), min(y1 + 1, h), max(x0 - 1, 0), min(x1 + 1, w)
        gy0, gy1, gx0, gx1 = max(y0 - 1, 0), min(y1 + 1, h), max(x0 - 1, 0), min(x1 + 1, w)
        big = colorize(labels[gy0:gy1, gx0:gx1], lut, True)
        rgba[y0:y1, x0:x1] = big[y0 - gy0:y1 - gy0, x0 - gx0:x1 - gx0]
    else:
        rgba[y0:y1, x0:x1] = np.take(_packed(lut), labels[y0:y1, x0:x1]).view(np.uint8).reshape(y1 - y0, x1 - x0, 4)


def error_rgba(mask: np.ndarray, prediction: np.ndarray, fp_color: tuple[int, int, int] = FP_COLOR,
               fn_color: tuple[int, int, int] = FN_COLOR) -> np.ndarray:
    """False positives (prediction says foreground, mask disagrees) and false negatives in two colours."""
    rgba = np.zeros((*mask.shape, 4), np.uint8)
    fp = (prediction > 0) & (prediction != mask)
    fn = (mask > 0) & (prediction != mask) & ~fp
    rgba[fp] = (*fp_color, 255)
    rgba[fn] = (*fn_color, 255)
    return rgba


def auto_window(image: np.ndarray) -> tuple[float, float]:
    """A robust default window (0.5-99.5 percentiles) for 16-bit and float images; full range for 8-bit."""
    if image.dtype == np.uint8:
        return 0.0, 255.0
    sample = image[:: max(image.shape[0] // 256, 1), :: max(image.shape[1] // 256, 1)]
    lo, hi = np.percentile(sample, (0.5, 99.5))
    if hi <= lo:
        hi = lo + 1
    return float(lo), float(hi)


def window_uint8(image: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """Map [low, high] to 0..255 (window/level), as contiguous uint8 for display."""
    lo, hi = window
    if image.dtype == np.uint8 and (lo, hi) == (0.0, 255.0):
        return np.ascontiguousarray(image)
    scale = 255.0 / max(hi - lo, 1e-6)
    out = (image.astype(np.float32) - lo) * scale
    return np.ascontiguousarray(np.clip(out, 0, 255).astype(np.uint8))
