"""Typed class numbers: with 32 teeth, number keys 1-0 reach only ten classes, so on an FDI table
two digits typed in a row pick a tooth by its number (3 then 6 -> tooth 36).

A first digit that is a quadrant waits briefly for the second; if none comes, it means what a
number key always meant (the n-th class of the list), so binary and short tables behave as before.
"""

from __future__ import annotations

from dataclasses import dataclass

WAIT_S = 0.9


@dataclass
class TypedNumber:
    values: frozenset[int]               # the class values of the table
    pending: int | None = None           # a first digit waiting for the second
    since: float = 0.0

    @property
    def numbered(self) -> bool:
        """Two-digit entry applies when the table holds two-digit class values (FDI teeth)."""
        return any(10 <= v <= 99 for v in self.values)

    def press(self, digit: int, now: float) -> tuple[str, int] | None:
        """("value", v): pick class value v; ("index", n): pick the n-th class (1-based, 0 = 10th);
        None: wait for a second digit (call ``expire`` when the wait is over)."""
        if not self.numbered:
            return "index", digit
        if self.pending is not None and now - self.since <= WAIT_S:
            value, self.pending = self.pending * 10 + digit, None
            return ("value", value) if value in self.values else ("index", digit)
        if any(v // 10 == digit for v in self.values):
            self.pending, self.since = digit, now
            return None
        self.pending = None
        return "index", digit

    def expire(self, now: float) -> tuple[str, int] | None:
        """The wait ran out: a lone first digit picks the n-th class."""
        if self.pending is None or now - self.since < WAIT_S:
            return None
        digit, self.pending = self.pending, None
        return "index", digit
