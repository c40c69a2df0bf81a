"""Which pixels a stroke may change: paint modes, locked classes and hidden classes.

Painting tooth 11 must not eat into tooth 12 the annotator already finished, and a class the user
hid is out of sight, so it must be out of reach too. The guard is a 256-entry table over the
*current* label of a pixel, so applying it costs one lookup per touched pixel.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.errors import ToothSegError

PAINT_MODES = {
    "all": "Overwrite everything (but locked and hidden classes)",
    "empty": "Paint only empty pixels",
    "others": "Don't overwrite other classes (the eraser removes only the active class)",
}
FILL_LIMIT = 0.25  # a fill larger than this share of the image asks first


class FillTooLarge(ToothSegError):
    """A flood fill would cover more of the image than the limit: the caller asks the user first."""

    def __init__(self, fraction: float):
        super().__init__(f"This fill would cover {fraction:.0%} of the image")
        self.fraction = fraction


class ProtectedClass(ToothSegError):
    """The class to paint is locked or hidden."""


@dataclass(frozen=True)
class PaintGuard:
    mode: str = "all"
    locked: frozenset[int] = field(default_factory=frozenset)   # locked or hidden class values
    active: int | None = None                                     # the class the eraser removes in "others"

    def __post_init__(self) -> None:
        if self.mode not in PAINT_MODES:
            raise ValueError(f"unknown paint mode {self.mode!r}")

    @property
    def is_open(self) -> bool:
        """True when every pixel may change (the fast path needs no lookup)."""
        return self.mode == "all" and not self.locked

    def writable(self, value: int) -> np.ndarray | None:
        """(256,) bool: may a pixel currently labelled k become ``value``? None means all may."""
        if self.is_open:
            return None
        if value and value in self.locked:
            raise ProtectedClass(f"class {value} is locked or hidden: unlock or show it to paint it")
        lut = np.ones(256, bool)
        if value and self.mode in ("empty", "others"):
            lut[1:] = False
            lut[value] = True
        elif not value and self.mode == "others":
            lut[:] = False
            if self.active:
                lut[self.active] = True
        lut[list(self.locked)] = False
        return lut

    def protected(self) -> np.ndarray | None:
        """(256,) bool of labels no operation may change (locked / hidden), None when there are none."""
        if not self.locked:
            return None
        lut = np.zeros(256, bool)
        lut[list(self.locked)] = True
        return lut
