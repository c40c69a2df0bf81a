"""Cold-start "label next" by coverage: the most typical image of each group of similar images.

Before any model exists, uncertainty cannot be measured, and the brightness heuristic only makes
sense for anatomy in a known depth band. With a label budget of tens of images what matters is that
the labels cover the kinds of images in the folder (different patients, clips, machines) and that
each one is typical of its kind rather than an outlier — the low-budget finding of "TypiClust"
(Hacohen et al., ICML 2022). So: small contrast-normalised thumbnails, seeded k-means with one
cluster per suggestion beyond the labels already made, and from every cluster that holds no label
yet the image nearest its centre. The score is the share of the folder a suggestion newly covers
(0 for images from groups a label already covers, which follow so a long list stays useful).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from core.data.appearance import appearance_vector
from core.jobs import CancelToken

THUMB = 24  # pixels per side: enough to tell clips and views apart, blind to the fine anatomy


def thumbnail(image: np.ndarray, side: int = THUMB) -> np.ndarray:
    """Grey, area-resized, zero-mean unit-variance vector (brightness and gain do not count)."""
    return appearance_vector(image, side)


def kmeans(x: np.ndarray, k: int, seed: int = 0, iterations: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Seeded k-means++ (centres, assignment); deterministic for a given ``seed``."""
    rng = np.random.default_rng(seed)
    centres = [x[rng.integers(len(x))]]
    d2 = ((x - centres[0]) ** 2).sum(1)
    for _ in range(1, k):
        total = d2.sum()
        pick = rng.choice(len(x), p=d2 / total) if total > 0 else int(rng.integers(len(x)))
        centres.append(x[pick])
        d2 = np.minimum(d2, ((x - x[pick]) ** 2).sum(1))
    c = np.stack(centres)
    assign = np.zeros(len(x), dtype=np.int64)
    for it in range(iterations):
        dist = ((x ** 2).sum(1)[:, None] - 2 * x @ c.T + (c ** 2).sum(1)[None, :])
        new = dist.argmin(1)
        if it and np.array_equal(new, assign):
            break
        assign = new
        for j in range(k):
            members = x[assign == j]
            if len(members):
                c[j] = members.mean(0)
    return c, assign


def rank_by_coverage(candidates: Sequence[str], labeled: Sequence[str], load: Callable[[str], np.ndarray],
                     top: int, seed: int = 0, cancel: CancelToken | None = None,
                     progress: Callable[[int, int, str], None] | None = None) -> list[tuple[str, float]]:
    """(candidate id, share of the folder it newly covers), most needed first."""
    ids = list(candidates) + list(labeled)
    if not candidates or top <= 0:
        return []
    feats = []
    for i, sid in enumerate(ids):
        if cancel is not None:
            cancel.raise_if_cancelled("ranking by coverage")
        feats.append(thumbnail(load(sid)))
        if progress is not None:
            progress(i + 1, len(ids), sid)
    x = np.stack(feats).astype(np.float64)
    k = min(len(candidates), top) + len(labeled)
    k = min(k, len(ids))
    centres, assign = kmeans(x, k, seed=seed)
    n_cand = len(candidates)
    covered = {int(assign[j]) for j in range(n_cand, len(ids))}
    picks = []
    for j in range(k):
        members = np.flatnonzero(assign[:n_cand] == j)
        if not len(members):
            continue
        nearest = members[((x[members] - centres[j]) ** 2).sum(1).argmin()]
        share = float((assign == j).sum()) / len(ids)
        picks.append((j in covered, -share, int(nearest), 0.0 if j in covered else share))
    picks.sort()
    ranked = [(candidates[i], score) for _, _, i, score in picks]
    if len(ranked) < min(top, n_cand):  # fewer non-empty clusters than asked: fill by distance to the picks
        chosen = {i for _, _, i, _ in picks}
        rest = [i for i in range(n_cand) if i not in chosen]
        anchor = x[[i for _, _, i, _ in picks] + list(range(n_cand, len(ids)))]
        far = [min(float(((x[i] - a) ** 2).sum()) for a in anchor) for i in rest]
        for _, i in sorted(zip(far, rest, strict=True), reverse=True):
            ranked.append((candidates[i], 0.0))
    return ranked[:top]
