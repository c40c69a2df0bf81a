"""Post-processing shared by prediction and pseudo-labelling (the lumbar seed's rules).

A model's raw mask often holds specks and a stray blob outside the anatomy; these rules keep the
components whose centre lies in an expected vertical band and that are large enough, and fall
back to the largest component so a faint but real structure is never erased entirely.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from core.models.describe import DEFAULT_MIN_AREA_FRAC

DEFAULT_MAX_AREA_FRAC = 0.9


def postprocess_binary(
    prob_or_mask: np.ndarray,
    band: tuple[float, float] | None = None,
    min_area_frac: float = DEFAULT_MIN_AREA_FRAC,
    threshold: float = 0.5,
    max_components: int = 0,
) -> np.ndarray:
    """Threshold (probabilities or a 0/1 mask), then keep plausible components; returns a 0/1 uint8 mask.

    ``band=(lo, hi)`` are fractions of the image height: a component is kept only when its centroid
    row lies inside it. Components smaller than ``min_area_frac`` of the image are dropped. When no
    component passes, the largest component is kept (largest-component fallback). ``max_components``
    > 0 keeps only that many of the largest passing components (a gland is one structure).
    """
    arr = np.asarray(prob_or_mask)
    if arr.ndim != 2:
        raise ValueError(f"postprocess_binary expects a 2-D array, got shape {arr.shape}")
    if arr.dtype == np.bool_:
        binary = arr.astype(np.uint8)
    elif np.issubdtype(arr.dtype, np.integer):
        binary = (arr > 0).astype(np.uint8)
    else:
        binary = (arr > threshold).astype(np.uint8)
    count, labels, stats, centroids = cv2.connectedComponentsWithStats(binary, connectivity=8)
    if count <= 1:
        return binary
    h, w = binary.shape
    areas = stats[1:, cv2.CC_STAT_AREA].astype(np.float64)
    keep = areas >= min_area_frac * h * w
    if band is not None:
        lo, hi = band
        cy_rel = centroids[1:, 1] / max(h - 1, 1)
        keep &= (cy_rel >= lo) & (cy_rel <= hi)
    if not keep.any():
        keep[int(np.argmax(areas))] = True
    if 0 < max_components < int(keep.sum()):
        ranked = np.argsort(np.where(keep, areas, -1.0))[::-1]
        keep[:] = False
        keep[ranked[:max_components]] = True
    lut = np.concatenate([[0], keep.astype(np.uint8)])
    return lut[labels].astype(np.uint8)


def component_counts(masks: list[np.ndarray], min_area_frac: float = DEFAULT_MIN_AREA_FRAC) -> list[int]:
    """Connected components (8-connected, at least ``min_area_frac`` of the image) per 0/1 mask."""
    counts = []
    for m in masks:
        _, _, stats, _ = cv2.connectedComponentsWithStats((np.asarray(m) > 0).astype(np.uint8), connectivity=8)
        counts.append(int((stats[1:, cv2.CC_STAT_AREA] >= min_area_frac * m.size).sum()))
    return counts


def learned_max_components(masks: list[np.ndarray], min_area_frac: float = DEFAULT_MIN_AREA_FRAC,
                           share: float = 0.8, min_masks: int = 4) -> int:
    """1 when the labels show a single structure (at least ``share`` of non-empty masks have exactly one
    component), else 0 (no limit). A model trained on few labels often adds a second blob elsewhere
    (20 thyroid labels: keeping the largest raises Dice on 518 unseen frames by 1-3 points); the prior
    comes from the user's own labels, so multi-structure data (teeth) is never cut."""
    counts = [c for c in component_counts(masks, min_area_frac) if c > 0]
    if len(counts) < min_masks:
        return 0
    return 1 if sum(c == 1 for c in counts) >= share * len(counts) else 0


def mask_stats(
    mask: np.ndarray,
    band: tuple[float, float] | None = None,
    min_area_frac: float = DEFAULT_MIN_AREA_FRAC,
    max_area_frac: float = DEFAULT_MAX_AREA_FRAC,
) -> dict[str, float | bool]:
    """Area fraction and relative centroid (0 = top/left, 1 = bottom/right) of a mask's foreground.

    ``plausible`` is True when the area lies within [min_area_frac, max_area_frac] and, if a band is
    given, the centroid row lies inside it; an empty mask has NaN centroids and is not plausible.
    """
    fg = np.asarray(mask) > 0
    if fg.ndim != 2:
        raise ValueError(f"mask_stats expects a 2-D mask, got shape {fg.shape}")
    h, w = fg.shape
    area = int(fg.sum())
    area_frac = area / float(h * w) if h * w else 0.0
    if area == 0:
        return {"area_frac": 0.0, "cy_rel": math.nan, "cx_rel": math.nan, "plausible": False}
    ys, xs = np.nonzero(fg)
    cy_rel = float(ys.mean()) / max(h - 1, 1)
    cx_rel = float(xs.mean()) / max(w - 1, 1)
    plausible = min_area_frac <= area_frac <= max_area_frac
    if band is not None:
        plausible = plausible and band[0] <= cy_rel <= band[1]
    return {"area_frac": area_frac, "cy_rel": cy_rel, "cx_rel": cx_rel, "plausible": bool(plausible)}
