"""Undo/redo as bounding-box diffs: one record per stroke, never a copy of the whole mask.

A record holds the old and new values of the changed rectangle only, so a 20-pixel brush dab on a
3000x1500 panoramic costs a few kilobytes, not 4 MB (3D Slicer's whole-volume undo is what to avoid).
The history keeps up to ``max_steps`` records and evicts the oldest ones beyond a byte cap.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

Box = tuple[int, int, int, int]  # y0, y1, x0, x1 (half-open)


@dataclass(frozen=True)
class StrokeRecord:
    """The changed rectangle of one stroke: its position and its values before and after."""

    y0: int
    x0: int
    old: np.ndarray
    new: np.ndarray
    label: str = "stroke"

    @property
    def box(self) -> Box:
        h, w = self.old.shape
        return self.y0, self.y0 + h, self.x0, self.x0 + w

    @property
    def nbytes(self) -> int:
        return int(self.old.nbytes + self.new.nbytes)


def record_from_snapshot(before: np.ndarray, after: np.ndarray, box: Box, label: str = "stroke"
                         ) -> StrokeRecord | None:
    """Crop ``box`` to the pixels that really changed and keep only that rectangle (or None)."""
    y0, y1, x0, x1 = box
    old, new = before[y0:y1, x0:x1], after[y0:y1, x0:x1]
    changed = old != new
    if not changed.any():
        return None
    rows, cols = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
    ry0, ry1, rx0, rx1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    return StrokeRecord(y0 + int(ry0), x0 + int(rx0), old[ry0:ry1, rx0:rx1].copy(),
                        new[ry0:ry1, rx0:rx1].copy(), label)


class History:
    """Per-image undo/redo stacks: up to ``max_steps`` records, the oldest evicted beyond ``max_bytes``.

    The default cap (128 MB) holds far more than 100 ordinary strokes even on large panoramics.
    """

    def __init__(self, max_bytes: int = 128 * 1024 * 1024, max_steps: int = 500):
        self.max_bytes = int(max_bytes)
        self.max_steps = int(max_steps)
        self._undo: deque[StrokeRecord] = deque()
        self._redo: list[StrokeRecord] = []
        self._bytes = 0

    @property
    def nbytes(self) -> int:
        return self._bytes + sum(r.nbytes for r in self._redo)

    @property
    def undo_steps(self) -> int:
        return len(self._undo)

    @property
    def redo_steps(self) -> int:
        return len(self._redo)

    @property
    def last(self) -> StrokeRecord | None:
        """The record the next undo takes back (a box prompt replaces its own record when refined)."""
        return self._undo[-1] if self._undo else None

    def can_undo(self) -> bool:
        return bool(self._undo)

    def can_redo(self) -> bool:
        return bool(self._redo)

    def push(self, record: StrokeRecord) -> None:
        """Add a finished stroke; a new stroke clears the redo stack, like every editor."""
        self._undo.append(record)
        self._bytes += record.nbytes
        self._redo.clear()
        while len(self._undo) > self.max_steps or (self._bytes > self.max_bytes and len(self._undo) > 1):
            self._bytes -= self._undo.popleft().nbytes

    def undo(self, labels: np.ndarray) -> StrokeRecord | None:
        """Write the old values of the last stroke back into ``labels``; returns the undone record."""
        if not self._undo:
            return None
        rec = self._undo.pop()
        self._bytes -= rec.nbytes
        y0, y1, x0, x1 = rec.box
        labels[y0:y1, x0:x1] = rec.old
        self._redo.append(rec)
        return rec

    def redo(self, labels: np.ndarray) -> StrokeRecord | None:
        if not self._redo:
            return None
        rec = self._redo.pop()
        y0, y1, x0, x1 = rec.box
        labels[y0:y1, x0:x1] = rec.new
        self._undo.append(rec)
        self._bytes += rec.nbytes
        return rec

    def clear(self) -> None:
        self._undo.clear()
        self._redo.clear()
        self._bytes = 0
