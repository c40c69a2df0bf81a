"""Status bar: current sample, pixel coordinates, intensity, class under the cursor, zoom, messages."""

from __future__ import annotations

from PySide6 import QtWidgets


class StatusLine:
    def __init__(self, window: QtWidgets.QMainWindow):
        self.bar = window.statusBar()
        self.labels = {}
        for name, width in (("sample", 0), ("xy", 130), ("intensity", 90), ("cls", 150), ("zoom", 90)):
            lbl = QtWidgets.QLabel("")
            lbl.setObjectName(f"status_{name}")
            if width:
                lbl.setMinimumWidth(width)
            self.labels[name] = lbl
            self.bar.addPermanentWidget(lbl)

    def message(self, text: str, ms: int = 5000) -> None:
        self.bar.showMessage(text, ms)

    def show_sample(self, text: str) -> None:
        self.labels["sample"].setText(text)

    def show_pixel(self, xy: str, intensity: str, cls: str) -> None:
        self.labels["xy"].setText(xy)
        self.labels["intensity"].setText(intensity)
        self.labels["cls"].setText(cls)

    def show_zoom(self, percent: float) -> None:
        self.labels["zoom"].setText(f"{percent:.0f} %")
