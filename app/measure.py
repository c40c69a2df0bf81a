"""Millimetres where the image file gives its pixel spacing (DICOM PixelSpacing or
ImagerPixelSpacing): the ruler tool's length and the instance list's areas follow the image in the
editor. Reading the spacing touches only the file header (no pixels)."""

from __future__ import annotations

from PySide6 import QtCore

from core.data.spacing import pixel_spacing


class Measurements(QtCore.QObject):
    def __init__(self, window):
        super().__init__(window)
        self.w = window
        self.spacing: tuple[float, float] | None = None
        self._for: str | None = None
        window.tools.spacing = lambda: self.spacing
        window.image_shown.connect(lambda _position: self.update())

    def update(self) -> None:
        s = self.w.session
        sample = s.sample if s is not None else None
        key = str(sample.image) if sample is not None else None
        if key == self._for:
            return
        self._for = key
        self.spacing = pixel_spacing(sample.image) if sample is not None else None
        self.w.instance_list.show_spacing(self.spacing)
        if self.spacing is not None:
            self.w.status.message(f"Pixel spacing {self.spacing[0]:.3f} x {self.spacing[1]:.3f} mm: "
                                  "the ruler (L) and instance areas use millimetres")


def install_measurements(window) -> Measurements:
    return Measurements(window)
