"""Splitting label maps into per-class connected instances (clinicians think in numbered teeth)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass
class Instance:
    """One connected region of one class. ``mask`` is full-size boolean."""

    value: int
    mask: np.ndarray
    area: int
    bbox: tuple[int, int, int, int]  # x, y, width, height
    score: float = 1.0

    def to_json(self) -> dict:
        return {"value": self.value, "area": self.area, "bbox": list(self.bbox), "score": round(self.score, 4)}


def instances_from_labels(labels: np.ndarray, probs: np.ndarray | None = None, min_area: int = 20,
                          class_values: list[int] | None = None) -> list[Instance]:
    """Connected components per class, largest first within a class; tiny specks are dropped.

    ``probs`` is an optional (K, H, W) probability array whose channel k belongs to
    ``class_values[k]``, or an (H, W) foreground probability; the score is the mean probability
    of the class over the instance.
    """
    out: list[Instance] = []
    for value in (v for v in np.unique(labels) if v != 0):
        binary = (labels == value).astype(np.uint8)
        n, comp, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
        order = sorted(range(1, n), key=lambda k: -stats[k, cv2.CC_STAT_AREA])
        for k in order:
            area = int(stats[k, cv2.CC_STAT_AREA])
            if area < min_area:
                continue
            mask = comp == k
            x, y, w, h = (int(stats[k, i]) for i in (cv2.CC_STAT_LEFT, cv2.CC_STAT_TOP,
                                                     cv2.CC_STAT_WIDTH, cv2.CC_STAT_HEIGHT))
            out.append(Instance(int(value), mask, area, (x, y, w, h), _score(probs, mask, int(value), class_values)))
    return out


def _score(probs: np.ndarray | None, mask: np.ndarray, value: int, class_values: list[int] | None) -> float:
    if probs is None:
        return 1.0
    if probs.ndim == 2:
        return float(probs[mask].mean())
    channel = class_values.index(value) if class_values else value
    return float(probs[channel][mask].mean())


def labels_from_instances(instances: list[Instance], shape: tuple[int, int]) -> np.ndarray:
    """Paint instances into a label map, smallest last so that small ones stay visible."""
    labels = np.zeros(shape, np.uint8)
    for inst in sorted(instances, key=lambda i: -i.area):
        labels[inst.mask] = inst.value
    return labels


def relabel_instance(labels: np.ndarray, instance: Instance, new_value: int) -> np.ndarray:
    """A copy of ``labels`` where one instance carries another class (e.g. renumber a tooth)."""
    if not 0 < new_value < 256:
        raise ValueError(f"class value {new_value} does not fit a uint8 label map")
    out = labels.copy()
    out[instance.mask & (labels == instance.value)] = new_value
    return out
