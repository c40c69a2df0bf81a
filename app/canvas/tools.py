"""Mouse -> editor calls. Each tool turns presses, drags and clicks into ``MaskEditor`` operations,
then asks the canvas to repaint the rectangle that changed. No pixel logic lives here.
"""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from app.canvas.view import CanvasView
from core.annotation.paint_guard import FILL_LIMIT, FillTooLarge, PaintGuard, ProtectedClass
from core.annotation.session import AnnotationSession
from core.data.spacing import describe_length, length
from core.errors import ToothSegError

BRUSHES = ("brush", "eraser", "threshold")
LASSOS = ("polygon", "accept_lasso")


class ToolController(QtCore.QObject):
    edited = QtCore.Signal()          # a stroke or operation finished (mask changed)
    message = QtCore.Signal(str)      # short feedback for the status bar
    radius_changed = QtCore.Signal(float)
    failed = QtCore.Signal(str)       # an edit could not be journaled or is not allowed (full disk, read-only)
    class_picked = QtCore.Signal(int)  # the eyedropper (Alt+click) found this class under the cursor

    def __init__(self, canvas: CanvasView, session_getter):
        super().__init__(canvas)
        self.canvas = canvas
        self._session = session_getter
        self.tool = "brush"
        self.radius = 12.0
        self.value = 1
        self.tolerance = 0.08
        self.island_area = 64
        self.paint_mode = "all"
        self.protected = lambda: set()     # locked and hidden class values, supplied by the window
        self.confirm = _ask                 # (question) -> bool; tests replace it
        self.spacing = lambda: None         # (row mm, col mm) of the image in the editor, when known
        self.ruler: tuple[tuple[float, float], tuple[float, float]] | None = None
        self._last: tuple[float, float] | None = None
        self._range: tuple[float, float] | None = None
        self.points: list[tuple[float, float]] = []
        self._dragging_lasso = False
        canvas.tools = self

    @property
    def box_prompt(self):
        """The box tool's controller (LiteMedSAM in a worker), created on first use."""
        if getattr(self, "_box_prompt", None) is None:
            from app.box_prompt import BoxPrompt

            self._box_prompt = BoxPrompt(self)
        return self._box_prompt

    @property
    def session(self) -> AnnotationSession | None:
        return self._session()

    @property
    def editor(self):
        """The current image's editor; None while another image loads (nothing may be edited then)."""
        s = self.session
        return s.editor if s is not None and not self.canvas.loading else None

    # ------------------------------------------------------------------ settings
    def set_tool(self, name: str) -> None:
        self.cancel_polygon()
        self.ruler = None
        self.tool = name
        self.canvas.cursor_item.setVisible(False)

    def set_radius(self, radius: float) -> None:
        self.radius = float(min(max(radius, 1.0), 400.0))
        self.radius_changed.emit(self.radius)

    def scale_radius(self, factor: float) -> None:
        self.set_radius(self.radius * factor if factor > 1 else max(self.radius * factor, 1.0))

    def _guarded(self):
        """The editor with the current paint guard, or None (and a message) when the active class
        itself is locked or hidden."""
        ed = self.editor
        if ed is None:
            return None
        guard = PaintGuard(self.paint_mode, frozenset(self.protected()), active=self.value)
        if self.tool not in ("eraser", "accept_lasso") and self.value in guard.locked:
            self.message.emit(f"Class {self.value} is locked or hidden: unlock or show it to paint it")
            return None
        ed.guard = guard
        return ed

    def guarded_editor(self):
        """The editor with the paint guard applied, for tools outside this file (the box tool)."""
        return self._guarded()

    def pick(self, x: float, y: float) -> None:
        """Eyedropper: make the class under the cursor the active one."""
        ed = self.editor
        if ed is None:
            return
        h, w = ed.shape
        cx, cy = int(x), int(y)
        if not (0 <= cx < w and 0 <= cy < h):
            return
        value = int(ed.labels[cy, cx])
        if value == 0:
            self.message.emit("Background under the cursor: no class picked")
            return
        self.class_picked.emit(value)

    # ------------------------------------------------------------------ mouse
    def hover(self, x: float, y: float) -> None:
        self.canvas.show_cursor(x, y, self.radius if self.tool in BRUSHES else None)
        if self.tool in LASSOS and self.points and not self._dragging_lasso:
            self.canvas.set_outline([*self.points, (x, y)])           # rubber band to the cursor

    def press(self, x: float, y: float) -> None:
        ed = self._guarded() if self.tool in BRUSHES else self.editor
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
        elif self.tool == "ruler":
            self.ruler = ((x, y), (x, y))
        elif self.tool == "box":
            self.box_prompt.press(x, y)

    def move(self, x: float, y: float) -> None:
        """One mouse-move segment while the button is down (the benchmarked fast path)."""
        if self.tool in BRUSHES and self._last is not None:
            self._paint_to(x, y)
            self.canvas.show_cursor(x, y, self.radius)
        elif self.tool in LASSOS and self._dragging_lasso:
            self.points.append((x, y))
            self.canvas.set_outline(self.points)
        elif self.tool == "ruler" and self.ruler is not None:
            self._measure(x, y)
        elif self.tool == "box":
            self.box_prompt.move(x, y)

    def release(self, x: float, y: float) -> None:
        ed = self.editor
        if self.tool in BRUSHES and self._last is not None and ed is not None:
            self._paint_to(x, y)
            self._last = None
            self._finish(ed.end_stroke())
        elif self.tool in LASSOS and self._dragging_lasso:
            self._dragging_lasso = False
            self.close_polygon()
        elif self.tool == "ruler" and self.ruler is not None:
            self._measure(x, y)
        elif self.tool == "box":
            self.box_prompt.release(x, y)

    def click(self, x: float, y: float, shift: bool = False) -> None:
        ed = self.editor
        if ed is None:
            return
        if self.tool in BRUSHES:
            self.press(x, y)
            self.release(x, y)
        elif self.tool == "fill":
            self.fill(x, y)
        elif self.tool in LASSOS:
            self.points.append((x, y))
            self.canvas.set_outline(self.points, closed=False)
        elif self.tool == "box":
            self.box_prompt.click(x, y, positive=not shift)

    def _measure(self, x: float, y: float) -> None:
        """Ruler: the line from the press to (x, y) and its length, in mm when the file gives the
        pixel spacing (DICOM), else in pixels."""
        start = self.ruler[0]
        self.ruler = (start, (x, y))
        self.canvas.set_outline([start, (x, y)])
        self.message.emit("Length " + describe_length(*length(start, (x, y), self.spacing())))

    def fill(self, x: float, y: float) -> None:
        """Flood fill; a region over FILL_LIMIT of the image is filled only when the user confirms."""
        ed = self._guarded()
        if ed is None:
            return
        try:
            box, rec = ed.flood_fill(x, y, self.value, max_fraction=FILL_LIMIT)
        except FillTooLarge as big:
            if not self.confirm(f"{big} (more than {FILL_LIMIT:.0%}). Fill anyway?"):
                self.message.emit("Fill cancelled")
                return
            box, rec = ed.flood_fill(x, y, self.value)
        self.canvas.refresh_mask(box)
        self._finish(rec)

    def double_click(self, x: float, y: float) -> None:
        if self.tool in LASSOS:
            self.close_polygon()

    def _paint_to(self, x: float, y: float) -> None:
        value = 0 if self.tool == "eraser" else self.value
        try:
            box = self.editor.paint_segment(self._last, (x, y), self.radius, value, self._range)
        except ProtectedClass as exc:
            self.message.emit(str(exc))
            return
        self._last = (x, y)
        self.canvas.refresh_mask(box)

    # ------------------------------------------------------------------ polygon / lasso
    def close_polygon(self) -> None:
        ed, points = self._guarded(), self.points
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
        s, ed = self.session, self._guarded()
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
        ed = self._guarded()
        if ed is None:
            return
        box, rec = ed.remove_small_islands(self.island_area)
        self.canvas.refresh_mask(box)
        self._finish(rec)
        self.message.emit("Removed small islands" if rec else f"No islands under {self.island_area} px")

    def undo(self) -> None:
        s = self.session
        if s is not None and self.editor is not None:
            self._after_history(s.undo(), "Nothing to undo")

    def redo(self) -> None:
        s = self.session
        if s is not None and self.editor is not None:
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
        problem = ""
        try:
            s.committed(record)
        except ToothSegError as exc:
            problem = str(exc)
            if s.read_only and s.editor is not None:   # another instance holds the folder: take the edit back
                box = s.editor.undo()
                if box is not None:
                    self.canvas.refresh_mask(box)
                self.failed.emit(problem)
                return
        self.canvas.refresh_errors()
        self.edited.emit()
        if problem:
            self.failed.emit(problem)                  # e.g. full disk: the stroke stays, unsaved


def _ask(question: str) -> bool:
    answer = QtWidgets.QMessageBox.question(None, "Flood fill", question)
    return answer == QtWidgets.QMessageBox.StandardButton.Yes
