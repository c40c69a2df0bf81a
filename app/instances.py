"""Instance list and overlay model wiring: ``install_instances(window, hitl)`` adds the Instances dock (tabbed
beside View & tools) and the caries-style overlay controller (``app.overlay``) to a main window; both
controllers get an ``EditorContext``, never the window.

The list is recomputed only when the label map it shows really changed (an edit, undo, image switch,
new prediction or min-area change), on the UI thread for small images and in a worker for large ones
(connected components of a 2943x1435 panoramic take tens of milliseconds).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
from PySide6 import QtCore, QtWidgets

from app.controllers.context import EditorContext
from app.overlay import OverlayController
from app.panels.instances import InstancesPanel
from app.workers import run_job
from core.annotation.instance_list import (
    InstanceItem,
    instance_rgba,
    items_from_instances,
    list_instances,
    review_flags,
)
from core.data.classes import is_fdi_tooth

if TYPE_CHECKING:
    from app.hitl import HitlController

log = logging.getLogger("toothseg.app.instances")
SYNC_PIXELS = 1_000_000   # below this, components take a few ms: compute at once


class InstanceController(QtCore.QObject):
    def __init__(self, ctx: EditorContext, panel: InstancesPanel, overlay: OverlayController):
        """``panel`` is the Instances dock this fills and listens to; ``overlay`` the overlay model shown
        beside it (kept here so scripts and tests find both)."""
        super().__init__(ctx.parent)
        self.ctx, self.panel, self.overlay = ctx, panel, overlay
        self.source = "mask"
        self.min_area = self.panel.min_area.value()
        self.by_instance = False
        self.items: list[InstanceItem] = []
        self.details: tuple[str, object, list[int] | None] | None = None   # sample id, Prediction, class values
        self._shown: tuple | None = None     # (sample id, source, min area, labels copy) of the listed map
        self._generation = 0
        self._shown_for = None               # the session the tab was last shown for
        self._timer = QtCore.QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self.refresh)
        self._wire()
        self.panel.setVisible(False)

    def _wire(self) -> None:
        p, ctx = self.panel, self.ctx
        p.source_changed.connect(self._source)
        p.min_area_changed.connect(self._min_area)
        p.color_by_instance_changed.connect(self._by_instance)
        p.row_selected.connect(self.highlight)
        p.rename_requested.connect(self.rename)
        ctx.image_shown.connect(self._image_shown)
        ctx.tools.edited.connect(self.schedule)
        ctx.canvas.prediction_changed.connect(self.schedule)
        ctx.classes.classes_changed.connect(self._classes)
        ctx.classes.display_changed.connect(self._recolour)
        ctx.layers.contour_changed.connect(lambda _on: self._recolour())

    # ------------------------------------------------------------------ triggers
    def schedule(self) -> None:
        """Refresh once the current burst of events is over (many signals, one computation)."""
        self._timer.start()

    def _image_shown(self, _position: int) -> None:
        s = self.ctx.session
        if s is not self._shown_for:  # once per folder: a closed tab stays closed
            self._shown_for = s
            self.panel.setVisible(True)
            front = self.ctx.layers   # showing a tab makes it current; the editor's own tab stays in front
            QtCore.QTimer.singleShot(0, front, front.raise_)
        self.panel.set_classes(s.project.classes if s else [])
        self.ctx.canvas.set_highlight([])
        if self.details and s and s.sample and self.details[0] != s.sample.id:
            self.details = None          # probabilities belong to the image they were predicted on
        self.schedule()

    def _source(self, source: str) -> None:
        self.source = source
        self.panel.refresh_buttons()
        self.schedule()

    def _min_area(self, value: int) -> None:
        self.min_area = int(value)
        self.schedule()

    def _classes(self) -> None:
        s = self.ctx.session
        self.panel.set_classes(s.project.classes if s else [])
        self.panel.set_items(self.items, self.source, self.flags_of(self.items))
        self._recolour()

    def _recolour(self) -> None:
        if self.by_instance:
            QtCore.QTimer.singleShot(0, self, self._apply_colours)   # after the window's class LUT

    def set_prediction_details(self, sample_id: str, prediction, class_values: list[int] | None) -> None:
        """Keep the last prediction of the image in the editor, so prediction instances get scores; a
        numbered-teeth prediction brings the tab to its teeth (numbers, scores, review flags)."""
        self.details = (sample_id, prediction, class_values)
        if getattr(prediction, "instances", None) is not None and self.source != "prediction":
            self.panel.source.setCurrentIndex(self.panel.source.findData("prediction"))   # -> _source
        self.schedule()

    # ------------------------------------------------------------------ computing the list
    def _labels(self) -> np.ndarray | None:
        s = self.ctx.session
        if s is None or s.editor is None:
            return None
        if self.source == "prediction":
            pred = self.ctx.canvas.prediction
            return pred if pred is not None and pred.shape == s.editor.shape else None
        return s.editor.labels

    def refresh(self, force: bool = False) -> None:
        """Recompute the list if the listed label map changed since it was last listed."""
        s, labels = self.ctx.session, self._labels()
        if labels is None:
            self._shown, self.items = None, []
            self.panel.set_items([], self.source)
            return
        key = (s.sample.id, self.source, self.min_area)
        if not force and self._shown is not None and self._shown[:3] == key and np.array_equal(self._shown[3],
                                                                                              labels):
            return
        self._shown = (*key, labels.copy())
        self._generation += 1
        generation = self._generation
        teeth = self._predicted_instances(s.sample.id)
        if teeth is not None:   # a numbered-teeth model separated and scored its teeth itself
            self._listed(generation, items_from_instances(teeth, self.min_area))
            return
        probs, values = self._probabilities(s.sample.id)
        args = (self._shown[3], probs, self.min_area, values)
        if labels.size <= SYNC_PIXELS:
            self._listed(generation, list_instances(*args))
            return
        job = run_job(self.ctx.parent, "Instances", list_instances, *args, progress_dialog=False,
                      on_done=lambda items: self._listed(generation, items))
        self.job = job

    def _predicted_instances(self, sample_id: str) -> list | None:
        """The teeth of the prediction shown, when its model gave them (``core.infer.teeth``)."""
        if self.source != "prediction" or self.details is None or self.details[0] != sample_id:
            return None
        return getattr(self.details[1], "instances", None)

    def _probabilities(self, sample_id: str) -> tuple[np.ndarray | None, list[int] | None]:
        if self.source != "prediction" or self.details is None or self.details[0] != sample_id:
            return None, None
        prediction, values = self.details[1], self.details[2]
        try:
            probs = prediction.probabilities
        except Exception as exc:    # a failed softmax must not hide the list: no scores, but say why
            self.ctx.failed("Instance scores", exc)
            return None, None
        if probs.shape[0] == 1:
            return probs[0], None
        return probs, values

    def _listed(self, generation: int, items: list[InstanceItem]) -> None:
        if generation != self._generation:
            return                                  # a newer map is being listed
        self.items = items
        self.panel.set_items(items, self.source, self.flags_of(items))
        selected = self.panel.selected_item()
        self.ctx.canvas.set_highlight(selected.outline() if selected else [])
        self._apply_colours()

    def flags_of(self, items: list[InstanceItem]) -> list[str]:
        """Review flags; duplicated numbers only count where classes are numbers (FDI teeth)."""
        s = self.ctx.session
        numbered = s is not None and any(is_fdi_tooth(c.value) for c in s.project.classes)
        return review_flags(items, numbered=numbered)

    def show_spacing(self, spacing: tuple[float, float] | None) -> None:
        """Areas in mm² from now on (``spacing``: millimetres per pixel, y and x), or in pixels (None)."""
        self.panel.spacing = spacing
        self.panel.set_items(self.panel.items, self.source, self.flags_of(self.panel.items))

    # ------------------------------------------------------------------ actions
    def _by_instance(self, on: bool) -> None:
        self.by_instance = bool(on)
        self._apply_colours()

    def _apply_colours(self) -> None:
        canvas = self.ctx.canvas
        if canvas.labels is None:
            return
        if not self.by_instance or self.source != "mask":
            if canvas.instance_rgba is not None:
                canvas.show_instance_colors(None)
            return
        canvas.show_instance_colors(instance_rgba(self.items, canvas.labels.shape))

    def highlight(self, row: int) -> None:
        """Outline the instance on the canvas and centre the view on it."""
        if not 0 <= row < len(self.items):
            return
        item = self.items[row]
        self.ctx.canvas.set_highlight(item.outline())
        x, y, w, h = item.bbox
        self.ctx.canvas.center_on(*item.center, min_size=1.5 * max(w, h))
        name = self.panel.classes.get(item.value)
        self.ctx.message(f"Instance {item.value}{f' ({name.name})' if name else ''}: {item.area} px")

    def rename(self, row: int, new_value: int) -> None:
        """Renumber one instance of the mask as ONE undoable edit (Ctrl+Z restores it)."""
        s = self.ctx.session
        if s is None or s.editor is None or self.source != "mask" or not 0 <= row < len(self.items):
            return
        item = self.items[row]
        ed = s.editor
        if ed.in_stroke:
            ed.end_stroke()
        try:
            box, record = ed.relabel_region(item.region(ed.shape), item.value, new_value)
        except ValueError as exc:
            self.ctx.error("Rename instance", str(exc))
            return
        if record is None:
            self.ctx.message(f"Instance is already class {new_value}")
            return
        self.ctx.tools.commit(box, record)
        self.ctx.message(f"Renamed instance {item.value} -> {new_value} ({item.area} px); Ctrl+Z undoes it")


def install_instances(window: QtWidgets.QMainWindow, hitl: HitlController) -> InstanceController:
    """Add the Instances dock (tabbed under View & tools) and the overlay model controller to ``window``;
    ``hitl`` gives the Models panel (its overlay buttons) and the predictions whose scores the prediction
    instances show. Returns the instance controller."""
    ctx = EditorContext(parent=window, canvas=window.canvas, layers=window.layers, classes=window.classes,
                        tools=window.tools, image_shown=window.image_shown,
                        message=lambda text: window.status.message(text), current_session=lambda: window.session)
    panel = InstancesPanel(window)
    window.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, panel)
    window.tabifyDockWidget(window.layers, panel)
    QtCore.QTimer.singleShot(0, window.layers, window.layers.raise_)
    controller = InstanceController(ctx, panel, OverlayController(ctx, hitl.models))
    hitl.prediction_ctl.details_ready.connect(controller.set_prediction_details)
    return controller
