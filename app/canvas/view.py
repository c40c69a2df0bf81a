"""The canvas: image, mask, prediction and error layers in a pyqtgraph ViewBox, plus zoom and pan.

The view only displays arrays it is given and forwards mouse input to the tool controller; the
colouring itself is ``core.annotation.render``.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from app.canvas.layers import ArrayLayer
from core.annotation import display, render

LAYERS = ("image", "mask", "prediction", "errors")
DEFAULT_ERROR_COLORS = (render.FP_COLOR, render.FN_COLOR)   # what core.annotation.display colours errors with
OVERLAY = "overlay"   # a second model's label map (e.g. caries over FDI teeth), drawn above every layer
# Every mouse move becomes a stroke segment (painting is fast); pyqtgraph's 100/s limit would make
# quick strokes angular.
pg.setConfigOption("mouseRateLimit", 0)


class EditViewBox(pg.ViewBox):
    """ViewBox that hands left-button input to the active tool; wheel zooms, Ctrl+wheel or Alt+wheel
    sizes the brush, Alt+click picks the class under the cursor, middle or Space+drag pans."""

    def __init__(self, canvas: CanvasView):
        super().__init__(lockAspect=True, invertY=True, enableMenu=False)
        self.canvas = canvas
        self.space_down = False

    def _tool_wants(self, ev) -> bool:
        return ev.button() == QtCore.Qt.MouseButton.LeftButton and not self.space_down and \
            self.canvas.tools is not None and self.canvas.has_image and not self.canvas.loading

    def mouseDragEvent(self, ev, axis=None):  # noqa: N802 (Qt API)
        if not self._tool_wants(ev):
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        pos = self.mapSceneToView(ev.scenePos())
        if ev.isStart():
            start = self.mapSceneToView(ev.buttonDownScenePos())
            self.canvas.tools.press(start.x(), start.y())
        self.canvas.tools.move(pos.x(), pos.y())
        if ev.isFinish():
            self.canvas.tools.release(pos.x(), pos.y())

    def mouseClickEvent(self, ev):  # noqa: N802 (Qt API)
        if not self._tool_wants(ev):
            super().mouseClickEvent(ev)
            return
        ev.accept()
        pos = self.mapSceneToView(ev.scenePos())
        if ev.modifiers() & QtCore.Qt.KeyboardModifier.AltModifier:
            self.canvas.tools.pick(pos.x(), pos.y())
            return
        if ev.double():
            self.canvas.tools.double_click(pos.x(), pos.y())
        else:
            shift = bool(ev.modifiers() & QtCore.Qt.KeyboardModifier.ShiftModifier)
            self.canvas.tools.click(pos.x(), pos.y(), shift=shift)

    def wheelEvent(self, ev, axis=None):  # noqa: N802 (Qt API)
        sizing = QtCore.Qt.KeyboardModifier.ControlModifier | QtCore.Qt.KeyboardModifier.AltModifier
        if self.canvas.tools is not None and ev.modifiers() & sizing:
            delta = ev.delta()           # Alt turns the wheel horizontal on some systems: either axis counts
            if delta:
                self.canvas.tools.scale_radius(1.15 if delta > 0 else 1 / 1.15)
                pos = self.mapSceneToView(ev.scenePos())
                self.canvas.tools.hover(pos.x(), pos.y())
            ev.accept()
            return
        super().wheelEvent(ev, axis)

    def hoverEvent(self, ev):  # noqa: N802 (Qt API)
        if ev.isExit():
            self.canvas.hover_left()
            return
        pos = self.mapSceneToView(ev.scenePos())
        self.canvas.hover(pos.x(), pos.y())


class CanvasView(pg.GraphicsView):
    hovered = QtCore.Signal(float, float)
    zoom_changed = QtCore.Signal(float)
    prediction_changed = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent, background="#0e1216")
        self.setObjectName("canvas")
        self.setViewportUpdateMode(QtWidgets.QGraphicsView.ViewportUpdateMode.MinimalViewportUpdate)
        self.vb = EditViewBox(self)
        self.setCentralItem(self.vb)
        self.layers = {name: ArrayLayer(z) for z, name in enumerate((*LAYERS, OVERLAY))}
        for item in self.layers.values():
            self.vb.addItem(item, ignoreBounds=item is not self.layers["image"])
        self.cursor_item = QtWidgets.QGraphicsEllipseItem()
        pen = QtGui.QPen(QtGui.QColor(255, 255, 255, 220), 1.2)
        pen.setCosmetic(True)
        self.cursor_item.setPen(pen)
        self.cursor_item.setZValue(20)
        self.cursor_item.setVisible(False)
        self.vb.addItem(self.cursor_item, ignoreBounds=True)
        self.outline_item = QtWidgets.QGraphicsPathItem()
        pen = QtGui.QPen(QtGui.QColor("#F0E442"), 1.5, QtCore.Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        self.outline_item.setPen(pen)
        self.outline_item.setZValue(21)
        self.vb.addItem(self.outline_item, ignoreBounds=True)
        self.highlight_item = QtWidgets.QGraphicsPathItem()
        pen = QtGui.QPen(QtGui.QColor("#FFFFFF"), 2.5)
        pen.setCosmetic(True)
        self.highlight_item.setPen(pen)
        self.highlight_item.setBrush(QtGui.QColor(255, 255, 255, 70))
        self.highlight_item.setZValue(19)
        self.vb.addItem(self.highlight_item, ignoreBounds=True)
        self.tools = None
        self.error_colors = (render.FP_COLOR, render.FN_COLOR)   # false positive / negative (Preferences)
        self.instance_rgba: np.ndarray | None = None   # "colour by instance" replaces the class colours
        self.labels: np.ndarray | None = None
        self.prediction: np.ndarray | None = None
        self.lut = render.class_lut([])
        self.contour = False
        self.window: tuple[float, float] = (0.0, 255.0)
        self._raw: np.ndarray | None = None
        self._mask_rgba: np.ndarray | None = None
        self.vb.sigRangeChanged.connect(lambda *_: self.zoom_changed.emit(self.zoom_percent()))
        self.setMouseTracking(True)
        self.loading = False
        self.loading_label = QtWidgets.QLabel(self)
        self.loading_label.setObjectName("loadingLabel")
        self.loading_label.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.loading_label.setStyleSheet("QLabel#loadingLabel { background: rgba(14, 18, 22, 210); color: #e8eef2;"
                                         " border: 1px solid #56b4e9; border-radius: 6px; padding: 10px 18px;"
                                         " font-size: 15px; }")
        self.loading_label.setVisible(False)

    # ------------------------------------------------------------------ content
    @property
    def raw_image(self) -> np.ndarray | None:
        """The image as read (before window / level), for auto-window and size checks."""
        return self._raw

    @property
    def has_image(self) -> bool:
        return self._raw is not None

    def set_loading(self, text: str | None) -> None:
        """Show (text) or hide (None) the loading state: a centred notice, the image dimmed, no editing."""
        self.loading = text is not None
        self.layers["image"].setOpacity(0.45 if self.loading else 1.0)
        if self.loading:
            self.loading_label.setText(text)
            self.loading_label.adjustSize()
            self._place_loading_label()
            self.loading_label.raise_()
            self.cursor_item.setVisible(False)
        self.loading_label.setVisible(self.loading)

    def _place_loading_label(self) -> None:
        label = getattr(self, "loading_label", None)    # pyqtgraph resizes during its own __init__
        if label is None:
            return
        label.move(max((self.width() - label.width()) // 2, 0), max((self.height() - label.height()) // 2, 0))

    def resizeEvent(self, ev: QtGui.QResizeEvent) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(ev)
        self._place_loading_label()

    def clear(self) -> None:
        """Show nothing (a folder is being opened)."""
        self._raw, self.labels, self.prediction, self._mask_rgba, self.instance_rgba = None, None, None, None, None
        for layer in self.layers.values():
            layer.set_array(None)
        self.set_highlight([])

    def set_frame(self, frame: display.Frame) -> None:
        """Show an image prepared off the UI thread (``core.annotation.display.prepare``): no colouring here."""
        self._raw, self.window = frame.image, frame.window
        self.layers["image"].set_array(frame.display)
        if not frame.matches(self.lut, self.contour):   # colours changed while it was prepared
            self.set_labels(frame.labels)
            self.set_prediction(frame.prediction)
            return
        self.labels, self.instance_rgba, self._mask_rgba = frame.labels, None, frame.mask_rgba
        self.layers["mask"].set_array(frame.mask_rgba)
        self.prediction = frame.prediction
        self.layers["prediction"].set_array(frame.prediction_rgba)
        if getattr(self, "error_colors", DEFAULT_ERROR_COLORS) == DEFAULT_ERROR_COLORS:
            self.layers["errors"].set_array(frame.errors_rgba)
        else:
            self.refresh_errors()                        # the user's own error colours (Preferences)
        self.prediction_changed.emit()

    def set_image(self, image: np.ndarray, window: tuple[float, float] | None = None) -> None:
        self._raw = image
        self.set_window(window or render.auto_window(image))

    def set_window(self, window: tuple[float, float]) -> None:
        """Window/level for 16-bit, float and DICOM images (8-bit defaults to the full range)."""
        self.window = (float(window[0]), float(window[1]))
        if self._raw is not None:
            self.layers["image"].set_array(render.window_uint8(self._raw, self.window))

    def set_labels(self, labels: np.ndarray) -> None:
        """Show a label map (kept by reference: the editor's array is drawn as it changes)."""
        self.labels = labels
        self.instance_rgba = None
        self._mask_rgba = render.colorize(labels, self.lut, self.contour)
        self.layers["mask"].set_array(self._mask_rgba)
        self.refresh_errors()

    def show_instance_colors(self, rgba: np.ndarray | None) -> None:
        """Colour the mask layer by instance (``rgba`` from core.annotation.instance_list) or, with None,
        by class again."""
        if self.labels is None:
            return
        if rgba is None:
            self.set_labels(self.labels)
            return
        self.instance_rgba = np.ascontiguousarray(rgba)
        self.layers["mask"].set_array(self.instance_rgba)

    def refresh_mask(self, box: tuple[int, int, int, int] | None) -> None:
        """Recolour and repaint only ``box`` of the mask layer (the per-stroke fast path)."""
        if box is None or self.labels is None or self._mask_rgba is None:
            return
        if self.instance_rgba is not None:
            self.set_labels(self.labels)    # an edit returns to class colours until the list recolours
        render.colorize_region(self.labels, self.lut, self._mask_rgba, box, self.contour)
        self.layers["mask"].update_box(box)

    def set_prediction(self, prediction: np.ndarray | None, layers: display.PredictionLayers | None = None) -> None:
        """A label map, or probabilities in [0, 1] (thresholded at 0.5 onto the first class). ``layers``
        (``core.annotation.display.prediction_layers``, made in a worker) are shown as they are when they
        still fit the canvas's colours and mask."""
        if layers is not None and layers.source is prediction and layers.labels is self.labels and \
                np.array_equal(layers.lut, self.lut) and \
                getattr(self, "error_colors", DEFAULT_ERROR_COLORS) == DEFAULT_ERROR_COLORS:
            self.prediction = layers.prediction
            self.layers["prediction"].set_array(layers.rgba)
            self.layers["errors"].set_array(layers.errors_rgba)
            self.prediction_changed.emit()
            return
        prediction = display.prediction_labels(prediction, self.lut)
        self.prediction = prediction
        rgba = None if prediction is None else render.colorize(prediction.astype(np.uint8), self.lut, True)
        self.layers["prediction"].set_array(rgba)
        self.refresh_errors()
        self.prediction_changed.emit()

    def refresh_errors(self) -> None:
        if self.prediction is None or self.labels is None or self.prediction.shape != self.labels.shape:
            self.layers["errors"].set_array(None)
            return
        self.layers["errors"].set_array(render.error_rgba(self.labels, self.prediction, *self.error_colors))

    def set_overlay(self, rgba: np.ndarray | None) -> None:
        """The overlay layer's RGBA (a second model's colourised label map), or None to clear it."""
        self.layers[OVERLAY].set_array(rgba)

    def set_highlight(self, outlines: list[np.ndarray]) -> None:
        """Outline and lightly fill the selected instance (polygons in image coordinates)."""
        path = QtGui.QPainterPath()
        for poly in outlines:
            if len(poly):
                path.addPolygon(QtGui.QPolygonF([QtCore.QPointF(float(x), float(y)) for x, y in poly]))
                path.closeSubpath()
        self.highlight_item.setPath(path)

    def center_on(self, x: float, y: float, min_size: float = 0.0) -> None:
        """Centre the view on (x, y), zooming out if needed so ``min_size`` image pixels fit."""
        rect = self.vb.viewRect()
        w, h = max(rect.width(), min_size), max(rect.height(), min_size)
        self.vb.setRange(QtCore.QRectF(x - w / 2, y - h / 2, w, h), padding=0)

    def set_lut(self, lut: np.ndarray) -> None:
        self.lut = lut
        if self.labels is not None:
            self.set_labels(self.labels)
        if self.prediction is not None:
            self.set_prediction(self.prediction)

    def set_contour(self, contour: bool) -> None:
        self.contour = bool(contour)
        if self.labels is not None:
            self.set_labels(self.labels)

    def set_layer_visible(self, name: str, visible: bool) -> None:
        self.layers[name].setVisible(bool(visible))

    def layer_visible(self, name: str) -> bool:
        return self.layers[name].isVisible()

    def set_layer_opacity(self, name: str, opacity: float) -> None:
        self.layers[name].setOpacity(float(opacity))

    # ------------------------------------------------------------------ zoom and cursor
    def fit(self) -> None:
        if self._raw is not None:
            h, w = self._raw.shape[:2]
            self.vb.setRange(QtCore.QRectF(0, 0, w, h), padding=0.01)

    def zoom_percent(self) -> float:
        """Screen pixels per image pixel x 100 (from the view range, which is never stale)."""
        width = self.vb.viewRect().width()
        return 100.0 * self.vb.width() / width if width > 0 else 100.0

    def actual_size(self) -> None:
        """One image pixel per screen pixel, keeping the current centre."""
        rect = self.vb.viewRect()
        w, h = self.vb.width(), self.vb.height()
        c = rect.center()
        self.vb.setRange(QtCore.QRectF(c.x() - w / 2, c.y() - h / 2, w, h), padding=0)

    def show_cursor(self, x: float, y: float, radius: float | None) -> None:
        if radius is None:
            self.cursor_item.setVisible(False)
            return
        self.cursor_item.setRect(QtCore.QRectF(x - radius, y - radius, 2 * radius, 2 * radius))
        self.cursor_item.setVisible(True)

    def set_outline(self, points: list[tuple[float, float]], closed: bool = False) -> None:
        path = QtGui.QPainterPath()
        if points:
            path.moveTo(*points[0])
            for p in points[1:]:
                path.lineTo(*p)
            if closed:
                path.closeSubpath()
        self.outline_item.setPath(path)

    def hover(self, x: float, y: float) -> None:
        if self.tools is not None:
            self.tools.hover(x, y)
        self.hovered.emit(x, y)

    def hover_left(self) -> None:
        self.cursor_item.setVisible(False)

    def keyPressEvent(self, ev: QtGui.QKeyEvent) -> None:  # noqa: N802 (Qt API)
        if ev.key() == QtCore.Qt.Key.Key_Space and not ev.isAutoRepeat():
            self.vb.space_down = True
            self.viewport().setCursor(QtCore.Qt.CursorShape.OpenHandCursor)
        super().keyPressEvent(ev)

    def keyReleaseEvent(self, ev: QtGui.QKeyEvent) -> None:  # noqa: N802 (Qt API)
        if ev.key() == QtCore.Qt.Key.Key_Space and not ev.isAutoRepeat():
            self.vb.space_down = False
            self.viewport().unsetCursor()
        super().keyReleaseEvent(ev)
