"""How well could a line over all the label-free signals rank the unseen frames? (issue 16, ADR 0016, ninth pass)

The quality estimate is a calibrated product of two signals. Eight passes tried others, one at a time. This
helper asks the question once for all of them: a least-squares line over every signal, fitted on the unseen
frames' *true* Dice. In-sample it bounds what any such line, fitted on the user's 20 labels instead, could reach.
Leave-one-clip-out (fit on the other clips, rank the held-out clip's frames) says how much of that transfers
to a clip the fit never saw, which is what a user's next patient is.
"""

from __future__ import annotations

import cv2
import numpy as np

from core.infer.quality import spearman

# per-frame statistics of a predicted mask and its foreground probabilities, beside the product's own signals
MASK_SIGNALS = ("mean_p_in", "low_in", "band", "rim", "recall", "log_area", "solidity", "compactness",
                "contrast", "cy", "cx")
PRODUCT_SIGNALS = ("quality", "soft", "area", "gate", "position")


def mask_signals(image: np.ndarray, mask: np.ndarray, fg: np.ndarray) -> dict[str, float]:
    """``MASK_SIGNALS`` of one prediction: ``mask`` boolean, ``fg`` foreground probability, ``image`` grey."""
    m = mask.astype(bool)
    area = int(m.sum())
    if area == 0:
        return dict.fromkeys(MASK_SIGNALS, 0.0)
    grey = image.astype(np.float64)
    if grey.ndim == 3:
        grey = grey.mean(axis=2)
    contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    largest = max(contours, key=cv2.contourArea)
    c_area, perimeter = cv2.contourArea(largest), cv2.arcLength(largest, True)
    hull = cv2.contourArea(cv2.convexHull(largest))
    ring = (cv2.dilate(m.astype(np.uint8), np.ones((15, 15), np.uint8)) > 0) & ~m
    ys, xs = np.nonzero(m)
    h, w = m.shape
    return {
        "mean_p_in": float(fg[m].mean()),
        "low_in": float((fg[m] < 0.7).mean()),
        "band": float(((fg > 0.1) & (fg < 0.5)).sum() / area),
        "rim": float(((fg > 0.2) & ~m).sum() / area),
        "recall": float(fg[m].sum() / max(float(fg.sum()), 1e-6)),
        "log_area": float(np.log(area / m.size)),
        "solidity": float(c_area / hull) if hull else 0.0,
        "compactness": float(4 * np.pi * c_area / perimeter ** 2) if perimeter else 0.0,
        "contrast": float(abs(grey[m].mean() - grey[ring].mean()) / (grey.std() + 1e-6)) if ring.any() else 0.0,
        "cy": float(ys.mean() / max(h - 1, 1)),
        "cx": float(xs.mean() / max(w - 1, 1)),
    }


def ceiling(rows: list[dict]) -> dict[str, float]:
    """Spearman against the true Dice of: the shipped estimate; the best line over every signal, in-sample;
    the same line fitted leave-one-clip-out. ``rows``: ``dice``, ``group`` and the signals (missing = 0)."""
    names = [k for k in (*PRODUCT_SIGNALS, *MASK_SIGNALS) if any(k in r for r in rows)]
    x = np.array([[float(r.get(k) or 0.0) for k in names] for r in rows])
    x = (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-9)
    design = np.hstack([x, np.ones((len(rows), 1))])
    true = np.array([r["dice"] for r in rows])
    groups = np.array([r["group"] for r in rows])
    fit = design @ np.linalg.lstsq(design, true, rcond=None)[0]
    held = np.zeros_like(true)
    for g in set(groups):
        train = groups != g
        held[~train] = design[~train] @ np.linalg.lstsq(design[train], true[train], rcond=1e-3)[0]
    return {"signals": len(names), "shipped": spearman(np.array([r["quality"] for r in rows]), true),
            "in_sample": spearman(fit, true), "leave_one_clip_out": spearman(held, true)}
