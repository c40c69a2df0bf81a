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
from core.interop.instances import instances_from_labels


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
    when ``probs`` is given (see ``instances_from_labels``), else None."""
    items = []
    for inst in instances_from_labels(labels, probs, min_area=min_area, class_values=class_values):
        x, y, w, h = inst.bbox
        items.append(InstanceItem(inst.value, inst.area, inst.bbox, inst.score if probs is not None else None,
                                  inst.mask[y:y + h, x:x + w].copy()))
    return items


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
