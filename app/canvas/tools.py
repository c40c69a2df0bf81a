"""Mouse -> editor calls. Each tool turns presses, drags and clicks into ``MaskEditor`` operations,
then asks the canvas to repaint the rectangle that changed. No pixel logic lives here.
"""

from __future__ import annotations

from PySide6 import QtCore

from app.canvas.view import CanvasView
from core.annotation.session import AnnotationSession

BRUSHES = ("brush", "eraser", "threshold")
LASSOS = ("polygon", "accept_lasso")


class ToolController(QtCore.QObject):
    edited = QtCore.Signal()          # a stroke or operation finished (mask changed)
    message = QtCore.Signal(str)      # short feedback for the status bar
    radius_changed = QtCore.Signal(float)

    def __init__(self, canvas: CanvasView, session_getter):
        super().__init__(canvas)
        self.canvas = canvas
        self._session = session_getter
        self.tool = "brush"
        self.radius = 12.0
        self.value = 1
        self.tolerance = 0.08
        self.island_area = 64
        self._last: tuple[float, float] | None = None
        self._range: tuple[float, float] | None = None
        self.points: list[tuple[float, float]] = []
        self._dragging_lasso = False
        canvas.tools = self

    @property
    def session(self) -> AnnotationSession | None:
        return self._session()

    @property
    def editor(self):
        s = self.session
        return s.editor if s is not None else None

    # ------------------------------------------------------------------ settings
    def set_tool(self, name: str) -> None:
        self.cancel_polygon()
        self.tool = name
        self.canvas.cursor_item.setVisible(False)

    def set_radius(self, radius: float) -> None:
        self.radius = float(min(max(radius, 1.0), 400.0))
        self.radius_changed.emit(self.radius)

    def scale_radius(self, factor: float) -> None:
        self.set_radius(self.radius * factor if factor > 1 else max(self.radius * factor, 1.0))

    # ------------------------------------------------------------------ mouse
    def hover(self, x: float, y: float) -> None:
        self.canvas.show_cursor(x, y, self.radius if self.tool in BRUSHES else None)
        if self.tool in LASSOS and self.points and not self._dragging_lasso:
            self.canvas.set_outline([*self.points, (x, y)])           # rubber band to the cursor

    def press(self, x: float, y: float) -> None:
        ed = self.editor
        if ed is None:
            return
        if self.tool in BRUSHES:
            ed.begin_stroke(self.tool)
            self._range = ed.threshold_range(x, y, self.radius, self.tolerance) if self.tool == "threshold" else None
            if self._range is not None:
                self.message.emit(f"Threshold brush paints intensities {self._range[0]:g} .. {self._range[1]:g}")
            self._last = (x, y)
            self._paint_to(x, y)
        elif self.tool in LASSOS:
            self.points = [(x, y)]
            self._dragging_lasso = True

    def move(self, x: float, y: float) -> None:
        """One mouse-move segment while the button is down (the benchmarked fast path)."""
        if self.tool in BRUSHES and self._last is not None:
            self._paint_to(x, y)
            self.canvas.show_cursor(x, y, self.radius)
        elif self.tool in LASSOS and self._dragging_lasso:
            self.points.append((x, y))
            self.canvas.set_outline(self.points)

    def release(self, x: float, y: float) -> None:
        ed = self.editor
        if self.tool in BRUSHES and self._last is not None and ed is not None:
            self._paint_to(x, y)
            self._last = None
            self._finish(ed.end_stroke())
        elif self.tool in LASSOS and self._dragging_lasso:
            self._dragging_lasso = False
            self.close_polygon()

    def click(self, x: float, y: float) -> None:
        ed = self.editor
        if ed is None:
            return
        if self.tool in BRUSHES:
            self.press(x, y)
            self.release(x, y)
        elif self.tool == "fill":
            box, rec = ed.flood_fill(x, y, self.value)
            self.canvas.refresh_mask(box)
            self._finish(rec)
        elif self.tool in LASSOS:
            self.points.append((x, y))
            self.canvas.set_outline(self.points, closed=False)

    def double_click(self, x: float, y: float) -> None:
        if self.tool in LASSOS:
            self.close_polygon()

    def _paint_to(self, x: float, y: float) -> None:
        value = 0 if self.tool == "eraser" else self.value
        box = self.editor.paint_segment(self._last, (x, y), self.radius, value, self._range)
        self._last = (x, y)
        self.canvas.refresh_mask(box)

    # ------------------------------------------------------------------ polygon / lasso
    def close_polygon(self) -> None:
        ed, points = self.editor, self.points
        self.points = []
        self.canvas.set_outline([])
        if ed is None or len(points) < 3:
            return
        if self.tool == "accept_lasso":
            self.accept_prediction(points)
            return
        box, rec = ed.fill_polygon(points, self.value)
        self.canvas.refresh_mask(box)
        self._finish(rec)

    def cancel_polygon(self) -> None:
        self.points = []
        self._dragging_lasso = False
        self.canvas.set_outline([])

    # ------------------------------------------------------------------ whole-image operations
    def accept_prediction(self, points=None) -> None:
        s, ed = self.session, self.editor
        pred = self.canvas.prediction
        if s is None or ed is None:
            return
        if pred is None:
            self.message.emit("No prediction for this image yet")
            return
        box, rec = ed.accept_prediction(pred, points)
        self.canvas.refresh_mask(box)
        self._finish(rec)

    def remove_islands(self) -> None:
        ed = self.editor
        if ed is None:
            return
        box, rec = ed.remove_small_islands(self.island_area)
        self.canvas.refresh_mask(box)
        self._finish(rec)
        self.message.emit("Removed small islands" if rec else f"No islands under {self.island_area} px")

    def undo(self) -> None:
        s = self.session
        if s is not None and s.editor is not None:
            self._after_history(s.undo(), "Nothing to undo")

    def redo(self) -> None:
        s = self.session
        if s is not None and s.editor is not None:
            self._after_history(s.redo(), "Nothing to redo")

    def _after_history(self, box, empty: str) -> None:
        if box is None:
            self.message.emit(empty)
            return
        self.canvas.refresh_mask(box)
        self.canvas.refresh_errors()
        self.edited.emit()

    def commit(self, box, record) -> None:
        """Show and record an edit made outside the mouse tools (e.g. renaming an instance)."""
        self.canvas.refresh_mask(box)
        self._finish(record)

    def _finish(self, record) -> None:
        s = self.session
        if record is None or s is None:
            return
        s.committed(record)
        self.canvas.refresh_errors()
        self.edited.emit()
