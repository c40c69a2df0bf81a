"""Model library dock: every model of the project with mode, date, data fingerprint and metrics.

Buttons emit what the user wants (set active, export ONNX / int8, delete, reveal, predict); the
controller in ``app.controllers.models`` runs it and calls ``set_rows`` with the library's fresh rows.
"""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from app.panels.curves import CurvesWidget
from app.panels.dock import PanelDock
from app.panels.tables import row_table
from core.hitl.measure_later import ESTIMATING, is_estimating
from core.train.confidence import describe, from_metrics

COLUMNS = ("", "Model", "Val Dice", "Mode", "Created", "ONNX", "int8 drop", "Data")  # what decides, first
DICE = COLUMNS.index("Val Dice")
NAME = COLUMNS.index("Model")
NAME_WIDTH = 140   # "finetune-20261202-065802" in full would push Val Dice and Mode out of a 400 px dock


def _num(value, fmt: str = "{:.3f}") -> str:
    return fmt.format(value) if isinstance(value, (int, float)) else ""


def _dice_text(m: dict) -> str:
    """``0.712 [0.61-0.80]``: the validation Dice with its 95 % interval over groups, when it has one."""
    if is_estimating(m):  # cross-validation still runs in the background (core.hitl.measure_later)
        return ESTIMATING
    ci = m.get("val_ci")
    text = _num(m.get("val_dice"))
    return f"{text} [{ci[0]:.2f}–{ci[1]:.2f}]" if text and isinstance(ci, (list, tuple)) and len(ci) == 2 else text


def _dice_tip(m: dict) -> str:
    if is_estimating(m):
        return m.get("val_note") or ESTIMATING
    summary = from_metrics(m)
    if summary is None:
        return ""
    lines = [describe(summary, "Validation Dice")]
    if m.get("val_method"):
        lines.append(f"measured by {m['val_method']}")
    if m.get("holdout_dice") is not None and m.get("val_method") != "validation split":
        lines.append(f"on the validation split alone: {m['holdout_dice']:.3f} ({m.get('holdout_n', '?')} images)")
    if m.get("previous_val_dice") is not None:
        lines.append(f"previous model on the same validation images: {m['previous_val_dice']:.3f}")
    return "\n".join(lines)


class ModelsPanel(PanelDock):
    activate_requested = QtCore.Signal(str)
    export_requested = QtCore.Signal(str, bool)      # name, int8
    delete_requested = QtCore.Signal(str)
    reveal_requested = QtCore.Signal(str)
    predict_requested = QtCore.Signal(str)           # "current" | "selection" | "unlabeled"
    overlay_requested = QtCore.Signal(str)           # show this model's output above the mask (caries)
    overlay_clear_requested = QtCore.Signal()
    selection_changed = QtCore.Signal(str)           # the model whose past curves to show ("" for none)

    def __init__(self, parent=None):
        super().__init__("Models", "modelsDock", parent)
        lay = self.body_layout
        self.table = row_table(COLUMNS, "modelsTable")
        self.table.setTextElideMode(QtCore.Qt.TextElideMode.ElideMiddle)   # the run's date and time stay readable
        self.table.doubleClicked.connect(lambda _i: self._emit(self.activate_requested))
        self.table.itemSelectionChanged.connect(lambda: self.selection_changed.emit(self.selected()))
        lay.addWidget(self.table, 2)
        self.curves_title = QtWidgets.QLabel("")
        self.curves_title.setObjectName("modelCurvesTitle")
        self.curves_title.setStyleSheet("color: #8a939c;")
        lay.addWidget(self.curves_title)
        self.curves = CurvesWidget(compact=True)   # the selected model's run, from its metrics.csv
        self.curves.setObjectName("modelCurves")
        self.curves.setVisible(False)
        lay.addWidget(self.curves, 3)
        grid = QtWidgets.QGridLayout()
        self.buttons: dict[str, QtWidgets.QPushButton] = {}
        specs = (("activate", "Set active", lambda: self._emit(self.activate_requested)),
                 ("export", "Export ONNX", lambda: self._emit_export(False)),
                 ("export_int8", "+ int8", lambda: self._emit_export(True)),
                 ("reveal", "Files", lambda: self._emit(self.reveal_requested)),
                 ("delete", "Delete", lambda: self._emit(self.delete_requested)),
                 ("overlay", "Show as overlay", lambda: self._emit(self.overlay_requested)),
                 ("overlay_clear", "Clear overlay", self.overlay_clear_requested.emit))
        tips = {"export_int8": "Export ONNX and an int8-quantized copy, with its Dice drop against fp32",
                "reveal": "Open the model's folder", "overlay": "Run this model on every image you view and draw its classes in the Overlay layer "
                           "above the mask (e.g. a caries model over the teeth)",
                "overlay_clear": "Stop showing the overlay model"}
        for k, (key, text, slot) in enumerate(specs):
            b = QtWidgets.QPushButton(text)
            b.setToolTip(tips.get(key, ""))
            b.setObjectName(f"models_{key}")
            b.clicked.connect(slot)
            grid.addWidget(b, k // 4, k % 4)
            self.buttons[key] = b
        lay.addLayout(grid)
        pbox = QtWidgets.QGroupBox("Predict with the active model (ONNX Runtime)")
        prow = QtWidgets.QHBoxLayout(pbox)
        tips = {"current": "Predict the image in the editor (Ctrl+P)",
                "selection": "Predict the unlabeled images the Dataset list shows (use its search / status / "
                             "split filter to choose them); results go to the Review queue",
                "unlabeled": "Predict every unlabeled image (Ctrl+Shift+P); results go to the Review queue"}
        for key, text in (("current", "Current image"), ("selection", "Listed images"), ("unlabeled", "All unlabeled")):
            b = QtWidgets.QPushButton(text)
            b.setToolTip(tips[key])
            b.setObjectName(f"predict_{key}")
            b.clicked.connect(lambda _c=False, k=key: self.predict_requested.emit(k))
            prow.addWidget(b)
            self.buttons[f"predict_{key}"] = b
        lay.addWidget(pbox)
        self.info = QtWidgets.QLabel("No model yet: label a few images and press Train on my labels.")
        self.info.setObjectName("modelsInfo")
        self.info.setWordWrap(True)
        self.info.setStyleSheet("color: #8a939c;")
        lay.addWidget(self.info)
        self.rows: list[dict] = []
        self.torch_available = True

    def set_rows(self, rows: list[dict]) -> None:
        selected = self.selected()
        self.rows = rows
        self.table.setRowCount(len(rows))
        bold = QtGui.QFont()
        bold.setBold(True)
        for r, row in enumerate(rows):
            m = row["metrics"]
            onnx = "yes" if row["has_onnx"] else "-"
            parity = f"ONNX parity {row['parity']:.1e}" if isinstance(row.get("parity"), (int, float)) else ""
            created = row["created"].replace("T", " ")
            values = ("●" if row["active"] else "", row["name"], _dice_text(m), row["mode"], created[5:16],
                      onnx, _num(row.get("dice_drop"), "{:+.4f}"), row["fingerprint"][:8])
            tips = {NAME: row["name"], DICE: _dice_tip(m), 4: created, 5: parity if row["has_onnx"] else "", 7: row["fingerprint"]}
            for c, text in enumerate(values):
                item = QtWidgets.QTableWidgetItem(text)
                if row["active"]:
                    item.setFont(bold)
                if tips.get(c):
                    item.setToolTip(tips[c])
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()
        if self.table.columnWidth(NAME) > NAME_WIDTH:   # long run names elide in the middle (full name as tip)
            self.table.setColumnWidth(NAME, NAME_WIDTH)
        names = [row["name"] for row in rows]
        if selected in names:
            self.table.selectRow(names.index(selected))
        elif rows:
            self.table.selectRow(next((i for i, row in enumerate(rows) if row["active"]), len(rows) - 1))
        self._enable()

    def _enable(self) -> None:
        has = bool(self.rows)
        for key in ("activate", "reveal", "delete", "overlay"):
            self.buttons[key].setEnabled(has)
        for key in ("export", "export_int8"):
            self.buttons[key].setEnabled(has and self.torch_available)
            if not self.torch_available:
                self.buttons[key].setToolTip("Exporting needs the full build (with PyTorch)")
        active = any(row["active"] and row["has_onnx"] for row in self.rows)
        for key in ("current", "selection", "unlabeled"):
            self.buttons[f"predict_{key}"].setEnabled(active)

    def selected(self) -> str:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows or rows[0].row() >= len(self.rows):
            return ""
        return self.rows[rows[0].row()]["name"]

    def select(self, name: str) -> None:
        for r, row in enumerate(self.rows):
            if row["name"] == name:
                self.table.selectRow(r)

    def _emit(self, signal) -> None:
        name = self.selected()
        if name:
            signal.emit(name)

    def _emit_export(self, int8: bool) -> None:
        name = self.selected()
        if name:
            self.export_requested.emit(name, int8)

    def show_info(self, text: str) -> None:
        self.info.setText(text)

    def show_curves(self, name: str, rows: list[dict[str, float]], held_out: bool = True) -> None:
        """The curves of model ``name``'s training run (empty rows: say there are none); ``held_out`` False:
        its validation images trained too, so their curves are labelled a fit."""
        self.curves.show_history(rows, held_out)
        self.curves.setVisible(bool(rows))
        if not name:
            self.curves_title.setText("")
        elif rows:
            self.curves_title.setText(f"Training curves of {name} ({len(rows)} epochs)")
        else:
            self.curves_title.setText(f"{name}: no training curves (metrics.csv) beside the model")
