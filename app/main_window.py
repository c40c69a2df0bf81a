"""The main window: composes the start page, canvas, docks, toolbars and the shortcut table.

It forwards user intent to ``core.annotation.session.AnnotationSession`` and the tool controller
and shows what comes back; it holds no pixel logic of its own.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from app.actions import TOOLS, build_actions
from app.autosave import Autosave
from app.canvas.tools import ToolController
from app.canvas.view import LAYERS, OVERLAY, CanvasView
from app.folder_opening import FolderOpening
from app.help import HelpDialog
from app.icons import icon
from app.loading import Loader
from app.panels.classes import ClassesPanel
from app.panels.dataset import DatasetPanel
from app.panels.layers import DEFAULT_OPACITY, LayersPanel
from app.start_page import ImportDialog, StartPage
from app.status import StatusLine
from app.workers import describe, run_job, show_error
from core.annotation import display, render
from core.annotation.session import AnnotationSession
from core.data.phantom import ensure_sample_project

log = logging.getLogger("toothseg.app")
CYCLE = (("mask",), ("prediction",), ("errors",), ("mask", "prediction", "errors"), ())


class MainWindow(QtWidgets.QMainWindow):
    image_shown = QtCore.Signal(int)   # position of the image now in the editor (instances, overlay follow it)

    def __init__(self):
        super().__init__()
        from app.preload import prepare_ui_thread  # GIL-bound imports now, not at the first Predict

        prepare_ui_thread()
        self.setWindowTitle("ToothSeg Studio")
        self.setWindowIcon(icon("app"))
        self.resize(1400, 900)
        self.session: AnnotationSession | None = None
        self._told_redirect = False
        self._cycle = 0
        self._target: int | None = None       # the image being loaded (keys step on from it)
        self.start = StartPage()
        self.canvas = CanvasView()
        self.stack = QtWidgets.QStackedWidget()
        self.stack.addWidget(self.start)
        self.stack.addWidget(self.canvas)
        self.setCentralWidget(self.stack)
        self.dataset, self.classes, self.layers = DatasetPanel(self), ClassesPanel(self), LayersPanel(self)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.LeftDockWidgetArea, self.dataset)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, self.classes)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, self.layers)
        self.resizeDocks([self.dataset, self.classes], [270, 290], QtCore.Qt.Orientation.Horizontal)
        self.tools = ToolController(self.canvas, lambda: self.session)
        self.actions = build_actions(self, self._handlers())
        self._build_toolbars()
        self.status = StatusLine(self)
        self.loader = Loader(self, self._busy)
        self.opening = FolderOpening(self)      # open_folder's stages, and the docks shown with a folder
        self.autosave = Autosave(lambda: self.session, lambda: self.save_now(quiet=True), self)
        self._wire()
        self.opening.show_docks(False)
        self.actions["brush"].setChecked(True)
        for name in ("toggle_mask", "toggle_prediction"):
            self.actions[name].setChecked(True)
        self.layers.show_tool_settings(self.tools.radius, self.tools.tolerance, self.tools.island_area)
        for name in (*LAYERS, OVERLAY):
            self.canvas.set_layer_opacity(name, DEFAULT_OPACITY[name])
        self.canvas.set_layer_visible("errors", False)
        from app.hitl import install_hitl  # training, models, review: a layer on top of the editor

        self.hitl = install_hitl(self)
        from app.class_keys import install_class_keys  # typed FDI numbers, eyedropper, paint guard

        self.class_keys = install_class_keys(self)
        from app.field_focus import FieldFocus  # Enter / Esc in a field give the keys back to the canvas

        self.field_focus = FieldFocus(self, self.canvas)
        from app.image_notes import install_image_notes  # per-image flags and note under the dataset list

        self.image_notes = install_image_notes(self)
        from app.file_menu import install_file_menu  # File: open, recent, import, export, preferences, quit

        self.file_menu = install_file_menu(self)
        from app.instances import install_instances  # instance list and overlay model, beside the HITL tabs

        self.instance_list = install_instances(self, self.hitl)
        from app.measure import install_measurements  # ruler and areas in mm when the file has a spacing

        self.measurements = install_measurements(self)
        from app.folder_access import install_folder_access  # read-only when another instance has the folder

        self.folder_access = install_folder_access(self)
        from app.layout import install_layout  # last: arranges and remembers the docks

        self.panel_layout = install_layout(self)

    # ------------------------------------------------------------------ composition
    def _handlers(self) -> dict:
        h = {name: (lambda n=name: self.set_tool(n)) for name in TOOLS}
        h.update({
            "size_down": lambda: self.tools.scale_radius(0.8), "size_up": lambda: self.tools.scale_radius(1.25),
            "close_polygon": self.tools.close_polygon, "cancel_polygon": self.tools.cancel_polygon,
            "accept_all": lambda: self.tools.accept_prediction(None), "remove_islands": self.tools.remove_islands,
            "undo": self.tools.undo, "redo": self.tools.redo, "save": self.save_now,
            "next": lambda: self.step(1), "previous": lambda: self.step(-1),
            "first_unlabeled": self.first_unlabeled, "fit": self.canvas.fit, "actual_size": self.canvas.actual_size,
            "toggle_mask": lambda: self.toggle_layer("mask"),
            "toggle_prediction": lambda: self.toggle_layer("prediction"),
            "toggle_errors": lambda: self.toggle_layer("errors"), "cycle_layers": self.cycle_layers,
            "contour": lambda: self.layers.contour.setChecked(self.actions["contour"].isChecked()),
            "open_folder": self.browse_folder, "help": self.show_help,
            "preferences": lambda: self.file_menu.edit_preferences(), "quit": self.close,
        })
        h.update({f"class_{i}": (lambda i=i: self.class_keys.digit(i % 10)) for i in range(1, 11)})
        h.update({"next_class": lambda: self.classes.step(1), "previous_class": lambda: self.classes.step(-1)})
        return h

    def _build_toolbars(self) -> None:
        side = QtWidgets.QToolBar("Tools", self)
        side.setObjectName("toolsBar")
        side.setIconSize(QtCore.QSize(24, 24))
        for name in TOOLS:
            side.addAction(self.actions[name])
        self.addToolBar(QtCore.Qt.ToolBarArea.LeftToolBarArea, side)
        top = QtWidgets.QToolBar("Main", self)
        top.setObjectName("mainBar")
        top.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextOnly)
        for name in ("open_folder", None, "previous", "next", "first_unlabeled", None, "undo", "redo", "save", None,
                     "fit", "actual_size", None, "remove_islands", "accept_all", None, "help"):
            if name is None:
                top.addSeparator()
            else:
                top.addAction(self.actions[name])
        self.addToolBar(QtCore.Qt.ToolBarArea.TopToolBarArea, top)
        self.toolbars = (side, top)

    def _fit_stack(self, current: int) -> None:
        """Size the central stack by the page shown, so the start page's width never widens the editor."""
        ignored, preferred = QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Preferred
        for i in range(self.stack.count()):
            page = self.stack.widget(i)
            page.setSizePolicy(preferred if i == current else ignored, preferred if i == current else ignored)
        self.stack.adjustSize()

    def _wire(self) -> None:
        self.stack.currentChanged.connect(self._fit_stack)
        self.start.browse_requested.connect(self.browse_folder)
        self.start.open_requested.connect(lambda folder: self.open_folder(folder, wait=False))
        self.start.sample_requested.connect(self.open_sample_project)
        self.start.import_requested.connect(self.import_sts)
        self.dataset.activated.connect(lambda position: self.select(position, wait=False))
        self.classes.active_changed.connect(self._active_class)
        self.classes.classes_changed.connect(self._classes_edited)
        self.classes.display_changed.connect(self.recolor)
        self.layers.visibility_changed.connect(self._layer_checked)
        self.layers.opacity_changed.connect(self.canvas.set_layer_opacity)
        self.layers.contour_changed.connect(self._contour)
        self.layers.window_changed.connect(lambda lo, hi: self.canvas.set_window((lo, hi)))
        self.layers.auto_window_requested.connect(self._auto_window)
        self.layers.radius_changed.connect(self.tools.set_radius)
        self.layers.tolerance_changed.connect(lambda v: setattr(self.tools, "tolerance", v))
        self.layers.island_changed.connect(lambda v: setattr(self.tools, "island_area", v))
        self.tools.radius_changed.connect(lambda r: self.layers.show_tool_settings(
            r, self.tools.tolerance, self.tools.island_area))
        self.tools.message.connect(lambda m: self.status.message(m))
        self.tools.edited.connect(self._edited)
        self.canvas.hovered.connect(self._hovered)
        self.canvas.zoom_changed.connect(self.status.show_zoom)

    # ------------------------------------------------------------------ folders
    def browse_folder(self) -> None:
        folder = QtWidgets.QFileDialog.getExistingDirectory(self, "Open dataset folder")
        if folder:
            self.open_folder(folder, wait=False)

    def open_sample_project(self) -> bool:
        return self.open_folder(ensure_sample_project(), wait=False)

    def open_folder(self, folder: str | Path, select: int | None = 0, offer_recovery: bool = True,
                    wait: bool = True) -> bool:
        """Open a dataset folder: the index and class guess are built in a worker while the canvas says
        "Opening ..." (``app.folder_opening``). ``wait=False`` (menus, start page) returns at once;
        ``wait=True`` (scripts, tests) returns once the folder and its first image are shown, True when
        the folder opened."""
        return self.opening.open(folder, select, offer_recovery, wait)

    def ask(self, question: str) -> bool:
        """Yes/no question (tests replace this to answer without a modal dialog)."""
        answer = QtWidgets.QMessageBox.question(self, "ToothSeg Studio", question)
        return answer == QtWidgets.QMessageBox.StandardButton.Yes

    def import_sts(self) -> None:
        dialog = ImportDialog(self)
        if dialog.exec() != QtWidgets.QDialog.DialogCode.Accepted:
            return
        self.run_import(*dialog.values())

    def run_import(self, dest: Path, parts: Path | None, **options):
        """Import in a worker with a progress dialog (Cancel stops it), then open the imported folder."""
        from core.data.sts_import import import_sts

        return run_job(self, "Import STS-2D-Tooth", import_sts, dest, parts_dir=parts,
                       on_done=lambda _summary: self.open_folder(dest, wait=False), **options)

    # ------------------------------------------------------------------ navigation
    @property
    def loading(self) -> bool:
        """A folder or an image is being loaded (the canvas shows it and refuses edits)."""
        return self.loader.busy

    def _busy(self, notice: str | None) -> None:
        self.canvas.set_loading(notice)

    def select(self, position: int, wait: bool = True) -> bool:
        """Show image ``position``: the previous mask is saved here, the image is decoded and coloured in
        a worker (prefetched neighbours come from the cache). ``wait=False`` (keys, clicks) returns at
        once; ``wait=True`` returns once it is shown, True when it is."""
        s = self.session
        if s is None:
            return False
        if not 0 <= position < len(s.index):
            show_error(self, "Open image", f"No image at position {position} (the dataset has {len(s.index)}).")
            return False
        previous = s.sample
        try:
            if s.dirty:
                s.save()
        except Exception as exc:
            show_error(self, "Open image", *describe(exc))
            return False
        if previous is not None and s.last_save is not None:
            self._report_save(s.last_save)        # its row repainted through ``FolderOpening._row_saved``
            s.last_save = None
        self._target = position
        sample = s.index[position]
        lut, contour, prediction = self.canvas.lut, self.canvas.contour, s.predictions.get(sample.id)

        def load(position=position):
            loaded = s.load(position)
            return loaded, display.prepare(loaded.image, loaded.labels, lut, contour, prediction)

        self.loader.request("Open image", f"Loading {sample.id} ...", load,
                            on_done=lambda result: self._image_ready(s, *result))
        if not wait:
            return True
        self.loader.wait()
        return self.session is s and s.position == position and s.editor is not None

    def _image_ready(self, s: AnnotationSession, loaded, frame: display.Frame) -> None:
        if s is not self.session:
            return
        try:
            sample = s.show(loaded)
        except Exception as exc:
            show_error(self, "Open image", *describe(exc))
            return
        ed = s.editor
        position = s.position
        first = not self.canvas.has_image or self.canvas.raw_image.shape != ed.image.shape
        if ed.labels is not frame.labels:               # the mask changed meanwhile: colour the current one
            frame = display.prepare(ed.image, ed.labels, self.canvas.lut, self.canvas.contour,
                                    s.predictions.get(sample.id), frame.window)
        self.canvas.set_frame(frame)
        if s.predictions.get(sample.id) is not frame.prediction_source:   # a prediction arrived meanwhile
            self.canvas.set_prediction(s.predictions.get(sample.id))
        self.layers.show_window(*self.canvas.window)
        if first:
            self.canvas.fit()
        self.dataset.select_position(position)
        h, w = ed.shape
        self.status.show_sample(f"{position + 1}/{len(s.index)}  {sample.id}  {w}x{h}  {sample.status}")
        self.image_shown.emit(position)

    def step(self, delta: int) -> None:
        if self.session is not None:
            base = self._target if self.loading and self._target is not None else self.session.position
            j = base + delta
            if 0 <= j < len(self.session.index):
                self.select(j, wait=False)

    def first_unlabeled(self) -> None:
        if self.session is None:
            return
        j = self.session.first_unlabeled()
        if j is None:
            self.status.message("Every other image has a mask")
        else:
            self.select(j, wait=False)

    # ------------------------------------------------------------------ saving
    def save_now(self, quiet: bool = False) -> None:
        s = self.session
        if s is None or s.editor is None:
            return
        try:
            result = s.save()
        except Exception as exc:
            self.autosave.timer.stop()                   # one dialog, not one every 3 s
            show_error(self, "Save mask", *describe(exc) if not quiet else (
                f"Autosave failed and is paused until the next successful save: {describe(exc)[0]}",
                describe(exc)[1]))
            return
        self.autosave.timer.start()
        if result is not None:
            self._report_save(result, quiet)      # the row repaints through ``FolderOpening._row_saved``
            self.dataset.update_summary()

    def _report_save(self, result, quiet: bool = False) -> None:
        if result.redirected and not self._told_redirect:
            self._told_redirect = True
            box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Information, "Masks saved elsewhere",
                                        f"{result.reason}.\nEdited masks are saved to:\n{result.path.parent}",
                                        QtWidgets.QMessageBox.StandardButton.Ok, self)
            box.setObjectName("redirectBox")
            box.open()
        if not quiet or result.redirected:
            self.status.message(f"Saved {result.path}")

    def _edited(self) -> None:
        self.status.message("Unsaved changes (autosave in 3 s)")

    # ------------------------------------------------------------------ tools, classes and layers
    def set_tool(self, name: str) -> None:
        self.tools.set_tool(name)
        self.actions[name].setChecked(True)
        self.status.message(self.actions[name].toolTip())

    def _active_class(self, value: int) -> None:
        self.tools.value = value

    def _classes_edited(self) -> None:
        if self.session is not None:
            try:
                self.session.save_project()
            except Exception as exc:
                show_error(self, "Save project", *describe(exc))
        self.recolor()

    def recolor(self) -> None:
        """The canvas's class colours follow the class table (colours, hidden classes)."""
        self.canvas.set_lut(render.class_lut(self.classes.classes, self.classes.hidden))

    def toggle_layer(self, name: str) -> None:
        self.layers.set_layer_checked(name, self.actions[f"toggle_{name}"].isChecked())

    def _layer_checked(self, name: str, on: bool) -> None:
        self.canvas.set_layer_visible(name, on)
        if f"toggle_{name}" in self.actions:
            self.actions[f"toggle_{name}"].setChecked(on)

    def cycle_layers(self) -> None:
        self._cycle = (self._cycle + 1) % len(CYCLE)
        for name in ("mask", "prediction", "errors"):
            self.layers.set_layer_checked(name, name in CYCLE[self._cycle])
        self.status.message("Overlays: " + (", ".join(CYCLE[self._cycle]) or "none"))

    def _contour(self, on: bool) -> None:
        self.actions["contour"].setChecked(on)
        self.canvas.set_contour(on)

    def _auto_window(self) -> None:
        if self.canvas.has_image:
            self.canvas.set_window(render.auto_window(self.canvas.raw_image))
            self.layers.show_window(*self.canvas.window)

    def _hovered(self, x: float, y: float) -> None:
        ed = self.session.editor if self.session is not None else None
        if ed is None:
            return
        ix, iy = int(x), int(y)
        h, w = ed.shape
        if not (0 <= ix < w and 0 <= iy < h) or x < 0 or y < 0:
            self.status.show_pixel("", "", "")
            return
        value = int(ed.labels[iy, ix])
        name = next((c.name for c in self.classes.classes if c.value == value), f"value {value}") if value else "-"
        self.status.show_pixel(f"x {ix}  y {iy}", f"I {ed.image[iy, ix]:g}", name)

    def show_help(self) -> None:
        dialog = HelpDialog(self)
        dialog.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()

    def closeEvent(self, ev: QtGui.QCloseEvent) -> None:  # noqa: N802 (Qt API)
        if self.session is not None:
            try:
                self.session.close()
            except Exception as exc:
                show_error(self, "Save mask", *describe(exc))
                ev.ignore()
                return
        self.autosave.timer.stop()
        self.loader.stop()
        self.dataset.model.thumbs.stop()
        super().closeEvent(ev)
