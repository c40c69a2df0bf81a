"""Seeded, group-aware train/val/test splits that keep near-duplicate images together.

Public dental sets repeat images between their labelled and unlabelled parts, and ultrasound
frames of one video look alike; a split that separates them leaks. Samples are therefore grouped
by their ``group`` field and by a perceptual hash (dHash) before the groups are dealt out.
Only labeled samples count towards the ratios; unlabeled samples follow their group, and those in
a group of their own go to ``train`` (they are only ever used for pretraining).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Sequence

import cv2
import numpy as np

from core.data.io import read_image, to_uint8
from core.data.sample import SPLITS, Sample, SampleIndex
from core.errors import ImageReadError, ToothSegError

DEFAULT_RATIOS = (0.8, 0.1, 0.1)


def dhash(img: np.ndarray) -> int:
    """64-bit difference hash of a grayscale image."""
    small = cv2.resize(to_uint8(img), (9, 8), interpolation=cv2.INTER_AREA).astype(np.int16)
    bits = (small[:, 1:] > small[:, :-1]).flatten()
    return int(np.packbits(bits).view(">u8")[0])


def near_duplicate_pairs(hashes: Sequence[int], max_distance: int = 3) -> list[tuple[int, int]]:
    """Index pairs whose hashes differ in at most ``max_distance`` bits."""
    if len(hashes) < 2:
        return []
    h = np.array(hashes, dtype=np.uint64)
    pairs = []
    for i in range(len(h) - 1):
        x = np.bitwise_xor(h[i + 1 :], h[i])
        dist = np.unpackbits(x.view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1)
        for j in np.nonzero(dist <= max_distance)[0]:
            pairs.append((i, i + 1 + int(j)))
    return pairs


class _UnionFind:
    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def split_groups(samples: Sequence[Sample], hashes: Sequence[int | None] | None,
                 max_distance: int = 3) -> list[list[int]]:
    """Indices of ``samples`` grouped by group name and by near-duplicate hash."""
    uf = _UnionFind(len(samples))
    first_of_group: dict[str, int] = {}
    for i, s in enumerate(samples):
        key = s.group or s.id
        if key in first_of_group:
            uf.union(first_of_group[key], i)
        else:
            first_of_group[key] = i
    if hashes is not None:
        valid = [i for i, h in enumerate(hashes) if h is not None]
        for a, b in near_duplicate_pairs([hashes[i] for i in valid], max_distance):
            uf.union(valid[a], valid[b])
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(samples)):
        groups[uf.find(i)].append(i)
    return list(groups.values())


def make_splits(index: SampleIndex, ratios: Sequence[float] = DEFAULT_RATIOS, seed: int = 0,
                dedupe: bool = True, max_distance: int = 3,
                progress: Callable[[int, int], None] | None = None) -> dict[str, str]:
    """Assign every sample to train/val/test; returns {sample_id: split}."""
    ratios = _check_ratios(ratios)
    samples = list(index)
    hashes: list[int | None] | None = None
    if dedupe:
        hashes = []
        for i, s in enumerate(samples):
            try:
                hashes.append(dhash(read_image(s.image)))
            except ImageReadError:
                hashes.append(None)  # unreadable images are reported by `check`, not here
            if progress:
                progress(i + 1, len(samples))
    groups = split_groups(samples, hashes, max_distance)
    labeled_groups = [g for g in groups if any(samples[i].has_mask for i in g)]
    rng = random.Random(seed)
    rng.shuffle(labeled_groups)
    labeled_groups.sort(key=lambda g: -sum(samples[i].has_mask for i in g))  # big groups first, stable
    total = sum(samples[i].has_mask for g in labeled_groups for i in g)
    target = [r * total for r in ratios]
    filled = [0.0, 0.0, 0.0]
    out: dict[str, str] = {}
    for g in labeled_groups:
        n = sum(samples[i].has_mask for i in g)
        k = max(range(3), key=lambda j: (target[j] - filled[j], -j))
        filled[k] += n
        for i in g:
            out[samples[i].id] = SPLITS[k]
    for g in groups:
        for i in g:
            out.setdefault(samples[i].id, "train")
    return out


def _check_ratios(ratios: Sequence[float]) -> tuple[float, float, float]:
    if len(ratios) != 3 or any(r < 0 for r in ratios) or sum(ratios) <= 0:
        raise ToothSegError(f"split ratios must be three non-negative numbers, got {list(ratios)}")
    total = float(sum(ratios))
    return tuple(r / total for r in ratios)  # type: ignore[return-value]
