"""Picking the class to paint from the keyboard and the canvas: typed FDI numbers (3 then 6 ->
tooth 36), next / previous class, the eyedropper (Alt+click), and what the tools may paint over
(paint mode, locked and hidden classes). Composition only: the rules live in core."""

from __future__ import annotations

import time

from PySide6 import QtCore

from core.annotation.class_picking import WAIT_S, TypedNumber


class ClassKeys(QtCore.QObject):
    def __init__(self, window):
        super().__init__(window)
        self.w = window
        self.typed = TypedNumber(frozenset())
        self.timer = QtCore.QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)   # a coarse timer may fire 5 % early
        self.timer.timeout.connect(self._expired)
        tools, classes = window.tools, window.classes
        tools.protected = lambda: classes.protected
        tools.class_picked.connect(self._picked)
        window.layers.paint_mode_changed.connect(lambda mode: setattr(tools, "paint_mode", mode))

    def digit(self, digit: int) -> None:
        self.typed.values = frozenset(c.value for c in self.w.classes.classes)
        result = self.typed.press(digit, time.monotonic())
        if result is None:
            self.w.status.message(f"Tooth {digit}_: type the second digit")
            self.timer.start(int(WAIT_S * 1000) + 20)
            return
        self.timer.stop()
        self._apply(result)

    def _expired(self) -> None:
        now = time.monotonic()
        result = self.typed.expire(now)
        if result is not None:
            self._apply(result)
        elif self.typed.pending is not None:           # woke a little early: wait out the rest
            left = WAIT_S - (now - self.typed.since)
            self.timer.start(max(1, int(left * 1000) + 5))

    def _apply(self, result: tuple[str, int]) -> None:
        kind, n = result
        if kind == "value":
            self.w.classes.select_value(n)
            self.w.status.message(f"Class {n} active")
        else:
            self.w.classes.select_row((n or 10) - 1)

    def _picked(self, value: int) -> None:
        if self.w.classes.select_value(value):
            self.w.status.message(f"Picked class {value} under the cursor")
        else:
            self.w.status.message(f"Value {value} under the cursor is not in the class table")


def install_class_keys(window) -> ClassKeys:
    return ClassKeys(window)
