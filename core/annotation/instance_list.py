"""Instances of the image in the editor, kept small for the instance list: per-class connected
components with their area, score and bounding box, and only the bbox crop of each mask.

A full-size boolean mask per tooth would cost 4 MB each on a 2943x1435 panoramic; the crop is what
the list needs to highlight, recolour and rename an instance.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import cv2
import numpy as np

from core.annotation.history import Box


@dataclass
class InstanceItem:
    """One connected region of one class; ``crop`` is its mask inside ``bbox`` (x, y, width, height)."""

    value: int
    area: int
    bbox: tuple[int, int, int, int]
    score: float | None
    crop: np.ndarray

    @property
    def box(self) -> Box:
        """The bbox as the editor's (y0, y1, x0, x1)."""
        x, y, w, h = self.bbox
        return y, y + h, x, x + w

    @property
    def center(self) -> tuple[float, float]:
        x, y, w, h = self.bbox
        return x + w / 2.0, y + h / 2.0

    def region(self, shape: tuple[int, int]) -> np.ndarray:
        """The instance as a full-size boolean mask (for the editor's relabel operation)."""
        full = np.zeros(shape, bool)
        y0, y1, x0, x1 = self.box
        full[y0:y1, x0:x1] = self.crop
        return full

    def outline(self) -> list[np.ndarray]:
        """Closed outlines (N, 2) of the region in image coordinates (x, y), for a highlight path."""
        contours, _ = cv2.findContours(self.crop.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        x, y = self.bbox[:2]
        return [c.reshape(-1, 2).astype(np.float64) + (x, y) for c in contours]


def list_instances(labels: np.ndarray, probs: np.ndarray | None = None, min_area: int = 20,
                   class_values: list[int] | None = None) -> list[InstanceItem]:
    """Instances of a label map, ordered by class then area; ``score`` is the mean probability
    when ``probs`` is given (same rules as ``core.interop.instances.instances_from_labels``), else None.

    Components are found inside each class's bounding box, not on the whole image: 32 teeth of a
    2943x1435 panoramic cost one pass over the pixels plus 32 small crops (about 20x faster).
    """
    ys, xs = np.nonzero(labels)
    if ys.size == 0:
        return []
    values = labels[ys, xs]
    order = np.argsort(values, kind="stable")
    ys, xs, values = ys[order], xs[order], values[order]
    starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
    ends = np.r_[starts[1:], values.size]
    items: list[InstanceItem] = []
    for a, b in zip(starts, ends, strict=True):
        value = int(values[a])
        y0, y1, x0, x1 = int(ys[a]), int(ys[a:b].max()) + 1, int(xs[a:b].min()), int(xs[a:b].max()) + 1
        binary = (labels[y0:y1, x0:x1] == value).astype(np.uint8)
        n, comp, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
        for k in sorted(range(1, n), key=lambda k: -stats[k, cv2.CC_STAT_AREA]):
            area = int(stats[k, cv2.CC_STAT_AREA])
            if area < min_area:
                continue
            cx, cy, w, h = (int(stats[k, i]) for i in (cv2.CC_STAT_LEFT, cv2.CC_STAT_TOP,
                                                       cv2.CC_STAT_WIDTH, cv2.CC_STAT_HEIGHT))
            crop = comp[cy:cy + h, cx:cx + w] == k
            bbox = (x0 + cx, y0 + cy, w, h)
            items.append(InstanceItem(value, area, bbox, _score(probs, crop, bbox, value, class_values), crop))
    return items


def items_from_instances(instances, min_area: int = 1) -> list[InstanceItem]:
    """List items of instances a model separated itself (``core.interop.instances.Instance``, e.g. the
    numbered teeth of ``core.infer.teeth``), with their own scores, ordered like ``list_instances``;
    two teeth given one number stay two rows (their masks may touch)."""
    items = []
    for inst in sorted(instances, key=lambda i: (i.value, -i.area)):
        if inst.area < min_area:
            continue
        x, y, w, h = inst.bbox
        items.append(InstanceItem(int(inst.value), int(inst.area), (x, y, w, h), float(inst.score),
                                  np.ascontiguousarray(inst.mask[y:y + h, x:x + w])))
    return items


def _score(probs: np.ndarray | None, crop: np.ndarray, bbox: tuple[int, int, int, int], value: int,
           class_values: list[int] | None) -> float | None:
    if probs is None:
        return None
    x, y, w, h = bbox
    if probs.ndim == 2:
        return float(probs[y:y + h, x:x + w][crop].mean())
    channel = class_values.index(value) if class_values else value
    return float(probs[channel, y:y + h, x:x + w][crop].mean())


LOW_SCORE = 0.5


def review_flags(items: list[InstanceItem], low_score: float = LOW_SCORE,
                 numbered: bool = True) -> list[str]:
    """Why each instance deserves a second look ("" when none): a predicted tooth whose mean
    probability is below ``low_score``, or a number carried by more than one region (two teeth
    called 36, or one tooth split in two). ``numbered`` is False for plain binary masks, where many
    regions of one class are normal."""
    counts: dict[int, int] = {}
    for it in items:
        counts[it.value] = counts.get(it.value, 0) + 1
    flags = []
    for it in items:
        why = []
        if it.score is not None and it.score < low_score:
            why.append(f"low score {it.score:.2f}")
        if numbered and counts[it.value] > 1:
            why.append(f"number {it.value} used {counts[it.value]}x")
        flags.append("; ".join(why))
    return flags


def palette(n: int) -> np.ndarray:
    """``n`` well separated bright colours (golden-ratio hues), (n, 3) uint8."""
    rgb = [colorsys.hsv_to_rgb((0.13 + i * 0.618034) % 1.0, 0.75, 1.0) for i in range(n)]
    return (np.asarray(rgb, np.float64).reshape(-1, 3) * 255).round().astype(np.uint8)


def instance_rgba(items: list[InstanceItem], shape: tuple[int, int]) -> np.ndarray:
    """RGBA (H, W, 4) where every instance has its own colour (neighbouring teeth of the same class
    are told apart; merged or split teeth show at once)."""
    rgba = np.zeros((*shape, 4), np.uint8)
    for item, color in zip(items, palette(len(items)), strict=True):
        y0, y1, x0, x1 = item.box
        rgba[y0:y1, x0:x1][item.crop] = (*color, 255)
    return rgba


def overlay_rgba(labels: np.ndarray, classes: list[dict]) -> np.ndarray:
    """RGBA of a second model's label map with that model's own class colours (from its metadata):
    ``classes`` are ``{"value"|"id", "color": [r, g, b]}``; background and unknown values stay clear."""
    lut = np.zeros((256, 4), np.uint8)
    for c in classes:
        value = int(c.get("value", c["id"]))
        if 0 < value < 256:
            lut[value] = (*[int(v) for v in c["color"]][:3], 255)
    return lut[labels.astype(np.uint8)]
