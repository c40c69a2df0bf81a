"""Editing operations on a numpy label map: brush, eraser, threshold brush, fill, polygon, islands.

Every operation returns the rectangle it touched so the GUI repaints only that part. A drag is one
stroke: ``begin_stroke`` .. ``end_stroke`` makes ONE undo record holding only the changed bounding box.
Single-shot operations (fill, polygon, remove islands, accept prediction) are strokes of their own.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from core.annotation.history import Box, History, StrokeRecord, record_from_snapshot
from core.annotation.paint_guard import FillTooLarge, PaintGuard

Point = tuple[float, float]  # (x, y) in image pixels, like mouse positions


def union(a: Box | None, b: Box | None) -> Box | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3])


class MaskEditor:
    """Owns one image's label map (uint8) and its undo history."""

    def __init__(self, labels: np.ndarray, image: np.ndarray | None = None, history: History | None = None):
        if labels.ndim != 2:
            raise ValueError(f"label map must be 2-D, got {labels.shape}")
        if image is not None and image.shape[:2] != labels.shape:
            raise ValueError(f"image {image.shape[:2]} and mask {labels.shape} differ in size")
        self.labels = np.ascontiguousarray(labels, dtype=np.uint8)
        self.image = image
        self.history = history if history is not None else History()
        self._before: np.ndarray | None = None
        self._box: Box | None = None
        self._label = "stroke"
        self.guard = PaintGuard()      # paint mode and locked / hidden classes, set by the tools

    @property
    def shape(self) -> tuple[int, int]:
        return self.labels.shape  # type: ignore[return-value]

    @property
    def in_stroke(self) -> bool:
        return self._before is not None

    # ------------------------------------------------------------------ strokes
    def begin_stroke(self, label: str = "stroke") -> None:
        if self._before is not None:
            self.end_stroke()
        self._before = self.labels.copy()
        self._box = None
        self._label = label

    def end_stroke(self) -> StrokeRecord | None:
        """Close the stroke: push one bbox-only record (None when nothing changed)."""
        before, box = self._before, self._box
        self._before, self._box = None, None
        if before is None or box is None:
            return None
        rec = record_from_snapshot(before, self.labels, box, self._label)
        if rec is not None:
            self.history.push(rec)
        return rec

    def _touch(self, box: Box | None) -> Box | None:
        self._box = union(self._box, box)
        return box

    def _single(self, label: str, op) -> tuple[Box | None, StrokeRecord | None]:
        self.begin_stroke(label)
        box = op()
        rec = self.end_stroke()
        return box, rec

    # ------------------------------------------------------------------ brush family
    def paint_segment(self, p0: Point, p1: Point, radius: float, value: int,
                      intensity_range: tuple[float, float] | None = None) -> Box | None:
        """Stamp a disk of ``radius`` along p0 -> p1 with ``value`` (0 erases).

        With ``intensity_range`` only pixels whose image intensity lies in [lo, hi] change (the
        threshold brush). Cost is proportional to the segment's bounding box, not the image.
        Pixels the paint guard protects (mode, locked or hidden classes) keep their label.
        """
        writable = self.guard.writable(value)
        auto = self._before is None
        if auto:
            self.begin_stroke("brush" if value else "eraser")
        h, w = self.labels.shape
        r = max(float(radius), 0.5)
        (xa, ya), (xb, yb) = p0, p1
        y0, y1 = max(int(np.floor(min(ya, yb) - r)), 0), min(int(np.ceil(max(ya, yb) + r)) + 1, h)
        x0, x1 = max(int(np.floor(min(xa, xb) - r)), 0), min(int(np.ceil(max(xa, xb) + r)) + 1, w)
        if y0 >= y1 or x0 >= x1:
            if auto:
                self.end_stroke()
            return None
        yy = np.arange(y0, y1, dtype=np.float32)[:, None]
        xx = np.arange(x0, x1, dtype=np.float32)[None, :]
        dx, dy = xb - xa, yb - ya
        seg2 = dx * dx + dy * dy
        if seg2 < 1e-9:
            d2 = (xx - xa) ** 2 + (yy - ya) ** 2
        else:
            t = np.clip(((xx - xa) * dx + (yy - ya) * dy) / seg2, 0.0, 1.0)
            d2 = (xx - (xa + t * dx)) ** 2 + (yy - (ya + t * dy)) ** 2
        hit = d2 <= r * r
        if intensity_range is not None and self.image is not None:
            lo, hi = intensity_range
            patch = self.image[y0:y1, x0:x1]
            hit &= (patch >= lo) & (patch <= hi)
        if writable is not None:
            hit &= writable[self.labels[y0:y1, x0:x1]]
        self.labels[y0:y1, x0:x1][hit] = value
        box = self._touch((y0, y1, x0, x1))
        if auto:
            self.end_stroke()
        return box

    def threshold_range(self, x: float, y: float, radius: float, tolerance: float = 0.1
                        ) -> tuple[float, float] | None:
        """Intensity range to paint, sampled under the cursor (5th-95th percentile, widened).

        ``tolerance`` widens the range by that fraction of the image's full intensity span.
        """
        if self.image is None:
            return None
        h, w = self.shape
        r = max(int(radius // 3), 1)
        cy, cx = int(round(y)), int(round(x))
        patch = self.image[max(cy - r, 0):min(cy + r + 1, h), max(cx - r, 0):min(cx + r + 1, w)]
        if patch.size == 0:
            return None
        lo, hi = np.percentile(patch, (5, 95))
        span = 1.0 if self.image.dtype == np.float32 else float(np.iinfo(self.image.dtype).max)
        return float(lo) - tolerance * span, float(hi) + tolerance * span

    # ------------------------------------------------------------------ region operations
    def flood_fill(self, x: float, y: float, value: int, max_fraction: float | None = None
                   ) -> tuple[Box | None, StrokeRecord | None]:
        """Fill the 4-connected region of equal label around (x, y) with ``value``.

        With ``max_fraction`` a region larger than that share of the image raises FillTooLarge and
        changes nothing (one stray click must not fill a 4-megapixel background).
        """
        h, w = self.shape
        cx, cy = int(x), int(y)
        if not (0 <= cx < w and 0 <= cy < h) or self.labels[cy, cx] == value:
            return None, None
        writable = self.guard.writable(value)
        if writable is not None and not writable[self.labels[cy, cx]]:
            return None, None
        region = np.zeros((h + 2, w + 2), np.uint8)
        cv2.floodFill(self.labels.copy(), region, (cx, cy), 0, 0, 0, 4 | cv2.FLOODFILL_MASK_ONLY | (1 << 8))
        inside = region[1:-1, 1:-1].astype(bool)
        fraction = float(np.count_nonzero(inside)) / inside.size
        if max_fraction is not None and fraction > max_fraction:
            raise FillTooLarge(fraction)
        return self._single("fill", lambda: self._touch(_box_of(inside, value, self.labels)))

    def fill_polygon(self, points: Sequence[Point], value: int) -> tuple[Box | None, StrokeRecord | None]:
        """Fill a closed polygon or freehand lasso (x, y vertices) with ``value``."""
        inside = self.polygon_mask(points)
        if inside is None:
            return None, None
        writable = self.guard.writable(value)
        if writable is not None:
            inside &= writable[self.labels]
        return self._single("polygon", lambda: self._touch(_box_of(inside, value, self.labels)))

    def polygon_mask(self, points: Sequence[Point]) -> np.ndarray | None:
        if len(points) < 3:
            return None
        region = np.zeros(self.shape, np.uint8)
        pts = np.round(np.asarray(points, dtype=np.float64) * 16).astype(np.int32)
        cv2.fillPoly(region, [pts], 1, lineType=cv2.LINE_8, shift=4)
        return region.astype(bool)

    def remove_small_islands(self, min_area: int = 64) -> tuple[Box | None, StrokeRecord | None]:
        """Clear 8-connected pieces of any class smaller than ``min_area`` pixels (stray clicks)."""

        protected = self.guard.protected()

        def op() -> Box | None:
            box = None
            for value in np.unique(self.labels):
                if value == 0 or (protected is not None and protected[value]):
                    continue
                n, comp, stats, _ = cv2.connectedComponentsWithStats(
                    (self.labels == value).astype(np.uint8), connectivity=8)
                small = np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] < min_area) + 1
                if small.size:
                    box = union(box, _box_of(np.isin(comp, small), 0, self.labels))
            return self._touch(box)

        return self._single("remove islands", op)

    def accept_prediction(self, prediction: np.ndarray, points: Sequence[Point] | None = None
                          ) -> tuple[Box | None, StrokeRecord | None]:
        """Copy a predicted label map into the mask, everywhere or only inside a lasso."""
        if prediction.shape != self.labels.shape:
            raise ValueError(f"prediction {prediction.shape} and mask {self.labels.shape} differ in size")
        region = np.ones(self.shape, bool) if points is None else self.polygon_mask(points)
        if region is None:
            return None, None
        protected = self.guard.protected()
        if protected is not None:                    # locked / hidden classes keep their pixels
            region &= ~protected[self.labels]

        def op() -> Box | None:
            box = _bounds(region)
            if box is None:
                return None
            y0, y1, x0, x1 = box
            sub = region[y0:y1, x0:x1]
            self.labels[y0:y1, x0:x1][sub] = prediction[y0:y1, x0:x1][sub].astype(np.uint8)
            return self._touch(box)

        return self._single("accept prediction", op)

    def paint_region(self, region: np.ndarray, value: int, label: str = "box prompt"
                     ) -> tuple[Box | None, StrokeRecord | None]:
        """Give ``region`` (bool, image-sized) the class ``value`` as one undo record, sparing the pixels the
        paint guard protects (locked / hidden classes, paint mode)."""
        if region.shape != self.labels.shape:
            raise ValueError(f"region {region.shape} and mask {self.labels.shape} differ in size")
        writable = self.guard.writable(int(value))
        region = region if writable is None else region & writable[self.labels]
        return self._single(label, lambda: self._touch(_box_of(region, int(value), self.labels)))

    def relabel_region(self, region: np.ndarray, old_value: int, new_value: int
                       ) -> tuple[Box | None, StrokeRecord | None]:
        """Give the pixels of ``region`` that carry ``old_value`` the class ``new_value`` (renumber one
        tooth 36 -> 37): one undo record, only those pixels change."""
        if region.shape != self.labels.shape:
            raise ValueError(f"region {region.shape} and mask {self.labels.shape} differ in size")
        if not 0 <= int(new_value) < 256:
            raise ValueError(f"class value {new_value} does not fit a uint8 label map")
        if int(new_value) == int(old_value):
            return None, None
        box = _bounds(region)
        if box is None:
            return None, None

        def op() -> Box | None:
            y0, y1, x0, x1 = box
            sub = self.labels[y0:y1, x0:x1]
            sub[region[y0:y1, x0:x1] & (sub == old_value)] = new_value
            return self._touch(box)

        return self._single("rename instance", op)

    # ------------------------------------------------------------------ undo / redo
    def undo(self) -> Box | None:
        if self._before is not None:
            self.end_stroke()
        rec = self.history.undo(self.labels)
        return rec.box if rec else None

    def redo(self) -> Box | None:
        rec = self.history.redo(self.labels)
        return rec.box if rec else None


def _bounds(region: np.ndarray) -> Box | None:
    rows, cols = np.flatnonzero(region.any(axis=1)), np.flatnonzero(region.any(axis=0))
    if rows.size == 0:
        return None
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _box_of(region: np.ndarray, value: int, labels: np.ndarray) -> Box | None:
    """Set ``labels[region] = value`` and return the region's bounding box."""
    box = _bounds(region)
    if box is not None:
        y0, y1, x0, x1 = box
        labels[y0:y1, x0:x1][region[y0:y1, x0:x1]] = value
    return box
