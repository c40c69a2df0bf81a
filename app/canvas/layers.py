"""A scene item that paints a numpy buffer through a zero-copy QImage, only where it is exposed.

Strokes write into the numpy buffer and call ``update_box``: Qt then repaints just that rectangle,
which is what keeps a brush segment on a 3000x1500 panoramic within a few milliseconds (pyqtgraph's
ImageItem would re-render the whole image on every change).
"""

from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

_FORMATS = {1: QtGui.QImage.Format.Format_Grayscale8, 4: QtGui.QImage.Format.Format_RGBA8888_Premultiplied}


class ArrayLayer(QtWidgets.QGraphicsItem):
    """Grayscale (H, W) or premultiplied RGBA (H, W, 4) uint8 buffer shown at 1 scene unit per pixel."""

    def __init__(self, z: float = 0.0):
        super().__init__()
        self.setZValue(z)
        self.setFlag(QtWidgets.QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption, True)
        self.buffer: np.ndarray | None = None
        self._qimage: QtGui.QImage | None = None
        self._rect = QtCore.QRectF()

    def set_array(self, array: np.ndarray | None) -> None:
        """Show ``array`` (kept by reference: later writes into it appear after ``update_box``)."""
        self.prepareGeometryChange()
        if array is None:
            self.buffer, self._qimage, self._rect = None, None, QtCore.QRectF()
            self.update()
            return
        array = np.ascontiguousarray(array, dtype=np.uint8)
        channels = 1 if array.ndim == 2 else array.shape[2]
        h, w = array.shape[:2]
        self.buffer = array
        self._qimage = QtGui.QImage(array.data, w, h, array.strides[0], _FORMATS[channels])
        self._rect = QtCore.QRectF(0, 0, w, h)
        self.update()

    def update_box(self, box: tuple[int, int, int, int] | None) -> None:
        if box is None:
            return
        y0, y1, x0, x1 = box
        self.update(QtCore.QRectF(x0 - 1, y0 - 1, x1 - x0 + 2, y1 - y0 + 2))

    def boundingRect(self) -> QtCore.QRectF:  # noqa: N802 (Qt API)
        return self._rect

    def paint(self, painter: QtGui.QPainter, option, widget=None) -> None:
        if self._qimage is None:
            return
        exposed = option.exposedRect.intersected(self._rect)
        if exposed.isEmpty():
            return
        src = exposed.toAlignedRect().intersected(self._rect.toRect())
        painter.drawImage(QtCore.QRectF(src), self._qimage, QtCore.QRectF(src))
