"""Which unlabeled image to annotate next.

Without a model: the lumbar seed's heuristic, the mean brightness inside a depth band (rows between
``band`` fractions of the height) — bright echoes or dense structures where the anatomy should be
make an image worth labelling first. With a model: its uncertainty, either the mean prediction
entropy or the disagreement between the image and its mirror (test-time augmentation). ``coverage``
(``core.train.coverage``) needs no model and no anatomy: typical images of groups no label covers.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from core.data.io import to_unit_float
from core.data.masks import load_image
from core.errors import ToothSegError
from core.jobs import CancelToken, Progress
from core.train.coverage import rank_by_coverage
from core.train.data import Dataset2D, open_dataset

METHODS = ("brightness", "coverage", "entropy", "tta")
MODEL_METHODS = ("entropy", "tta")


def band_brightness(image: np.ndarray, band: tuple[float, float] = (0.3, 0.7)) -> float:
    img = to_unit_float(image)
    h = img.shape[0]
    lo, hi = int(band[0] * h), max(int(band[1] * h), int(band[0] * h) + 1)
    return float(img[lo:hi].mean())


def entropy(probs: np.ndarray) -> float:
    """Mean per-pixel entropy (bits) of sigmoid (1 channel) or softmax probabilities."""
    p = np.clip(probs.astype(np.float64), 1e-6, 1 - 1e-6)
    if p.shape[0] == 1:
        e = -(p * np.log2(p) + (1 - p) * np.log2(1 - p))
    else:
        e = -(p * np.log2(p)).sum(0) / math.log2(p.shape[0])
    return float(e.mean())


def suggest(data: str | Path | Dataset2D, model_path: str | Path | None = None, top: int = 10,
            method: str | None = None, band: tuple[float, float] = (0.3, 0.7),
            progress: Progress | None = None, cancel: CancelToken | None = None) -> dict[str, Any]:
    """Rank unlabeled images (most worth labelling first); returns {"method", "n", "ranked": [...]}."""
    method = method or ("entropy" if model_path else "brightness")
    if method not in METHODS:
        raise ToothSegError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    if method in MODEL_METHODS and not model_path:
        raise ToothSegError(f"method '{method}' needs a model (--model CKPT)")
    if not isinstance(data, Dataset2D):
        data = open_dataset(data)
    candidates = [s for s in data.index if not s.has_mask or s.status in ("unlabeled", "rejected")]
    if method == "coverage":
        return _by_coverage(data, candidates, top, progress, cancel)
    from core.infer.predictor import load_predictor

    model = load_predictor(model_path) if method in MODEL_METHODS else None
    scored = []
    for i, s in enumerate(candidates):
        if cancel is not None:
            cancel.raise_if_cancelled("suggest")
        image = load_image(s)
        if method == "brightness":
            score = band_brightness(image, band)
        else:
            h, w = (int(v) for v in model.policy["size"])
            small = cv2.resize(to_unit_float(image), (w, h), interpolation=cv2.INTER_AREA)
            score = entropy(model.probabilities(small)) if method == "entropy" else model.flip_disagreement(small)
        scored.append({"id": s.id, "image": str(s.image), "score": score})
        if progress is not None:
            progress(i + 1, len(candidates), s.id)
    scored.sort(key=lambda r: -r["score"])
    return {"method": method, "n": len(scored), "model": str(model_path or ""),
            "ranked": [{"rank": k + 1, **r} for k, r in enumerate(scored[: max(0, top)])]}


def _by_coverage(data: Dataset2D, candidates: list, top: int, progress: Progress | None,
                 cancel: CancelToken | None) -> dict[str, Any]:
    by_id = {s.id: s for s in data.index}
    labeled = [s.id for s in data.index if s.is_training_label]
    ranked = rank_by_coverage([s.id for s in candidates], labeled, lambda sid: load_image(by_id[sid]), top,
                              cancel=cancel, progress=progress)
    return {"method": "coverage", "n": len(candidates), "model": "",
            "ranked": [{"rank": k + 1, "id": sid, "image": str(by_id[sid].image), "score": score}
                       for k, (sid, score) in enumerate(ranked)]}
