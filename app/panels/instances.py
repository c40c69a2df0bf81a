"""Instances dock: the connected regions (teeth) of the mask or of the prediction, one row each.

Clinicians count and number teeth; this list shows each tooth's class, area, score and bbox, and
lets one be renumbered (36 -> 37). The panel only shows rows and emits intent; ``app.instances``
computes the instances and edits the mask.
"""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from app.panels.classes import _swatch
from app.panels.dock import PanelDock
from app.panels.tables import row_table
from core.annotation.instance_list import InstanceItem
from core.data.classes import ClassDef, neighbour_tooth
from core.data.spacing import area_mm2

COLUMNS = ("Class", "Score", "Review", "Area (px)", "BBox (x, y, w, h)")
FLAG_COLOUR = "#D55E00"
SOURCES = (("mask", "Mask"), ("prediction", "Prediction"))


class InstancesPanel(PanelDock):
    source_changed = QtCore.Signal(str)           # "mask" | "prediction"
    min_area_changed = QtCore.Signal(int)
    color_by_instance_changed = QtCore.Signal(bool)
    row_selected = QtCore.Signal(int)
    rename_requested = QtCore.Signal(int, int)    # row, new class value

    def __init__(self, parent=None):
        super().__init__("Instances", "instancesDock", parent)
        lay = self.body_layout
        top = QtWidgets.QHBoxLayout()
        self.source = QtWidgets.QComboBox()
        self.source.setObjectName("instancesSource")
        for key, text in SOURCES:
            self.source.addItem(text, key)
        self.source.setToolTip("List the connected regions of the mask, or of the prediction shown (with scores)")
        self.source.currentIndexChanged.connect(lambda _i: self.source_changed.emit(self.source.currentData()))
        self.min_area = QtWidgets.QSpinBox()
        self.min_area.setObjectName("instancesMinArea")
        self.min_area.setRange(1, 1_000_000)
        self.min_area.setValue(20)
        self.min_area.setSuffix(" px")
        self.min_area.setToolTip("Smallest region listed (specks below it are left out)")
        self.min_area.setKeyboardTracking(False)
        self.min_area.valueChanged.connect(self.min_area_changed)
        top.addWidget(self.source)
        top.addWidget(QtWidgets.QLabel("min area"))
        top.addWidget(self.min_area)
        lay.addLayout(top)
        self.by_instance = QtWidgets.QCheckBox("Colour the mask by instance (not by class)")
        self.by_instance.setObjectName("instancesByInstance")
        self.by_instance.toggled.connect(self.color_by_instance_changed)
        lay.addWidget(self.by_instance)
        self.table = row_table(COLUMNS, "instancesTable")
        self.table.itemSelectionChanged.connect(self._selected)
        lay.addWidget(self.table, 1)
        rename = QtWidgets.QHBoxLayout()
        self.new_class = QtWidgets.QComboBox()
        self.new_class.setObjectName("instancesNewClass")
        self.new_class.setToolTip("The class the selected instance becomes")
        self.rename_button = QtWidgets.QPushButton("Rename instance")
        self.rename_button.setObjectName("instancesRename")
        self.rename_button.setToolTip("Give the selected instance another class (one undoable edit, Ctrl+Z)")
        self.rename_button.clicked.connect(self._rename)
        rename.addWidget(QtWidgets.QLabel("to"))
        rename.addWidget(self.new_class, 1)
        rename.addWidget(self.rename_button)
        lay.addLayout(rename)
        self.summary = QtWidgets.QLabel("")
        self.summary.setObjectName("instancesSummary")
        self.summary.setStyleSheet("color: #8a939c;")
        lay.addWidget(self.summary)
        self.items: list[InstanceItem] = []
        self.classes: dict[int, ClassDef] = {}
        self.spacing: tuple[float, float] | None = None     # mm per pixel (rows, cols) when the file says
        self.refresh_buttons()

    # ------------------------------------------------------------------ content
    def set_classes(self, classes: list[ClassDef]) -> None:
        self.classes = {c.value: c for c in classes}
        current = self.new_class.currentData()
        self.new_class.clear()
        for c in classes:
            self.new_class.addItem(_swatch(c.color), f"{c.value}  {c.name}", c.value)
        if current is not None:
            self.select_new_class(int(current))

    def select_new_class(self, value: int) -> None:
        index = self.new_class.findData(int(value))
        if index >= 0:
            self.new_class.setCurrentIndex(index)

    def set_items(self, items: list[InstanceItem], source: str, flags: list[str] | None = None) -> None:
        """Show ``items``; the selected row stays on the instance that occupies the same place.
        ``flags`` says per row why it needs review (low score, duplicated number); flagged rows are
        drawn in the warning colour."""
        flags = flags if flags is not None and len(flags) == len(items) else [""] * len(items)
        previous = self.selected_item()
        self.items = items
        self.table.blockSignals(True)
        self.table.setRowCount(len(items))
        for r, it in enumerate(items):
            c = self.classes.get(it.value)
            name = QtWidgets.QTableWidgetItem(f"{it.value}  {c.name}" if c else f"{it.value}  (no class)")
            name.setIcon(_swatch(c.color if c else "#FF00FF"))
            cells = (name, _right("-" if it.score is None else f"{it.score:.3f}"), QtWidgets.QTableWidgetItem(flags[r]),
                     _right(_area(it.area, self.spacing)), QtWidgets.QTableWidgetItem("{}, {}, {}, {}".format(*it.bbox)))
            for col, cell in enumerate(cells):
                if flags[r]:
                    cell.setForeground(QtGui.QColor(FLAG_COLOUR))
                    cell.setToolTip(f"Check this instance: {flags[r]}")
                self.table.setItem(r, col, cell)
        self.table.resizeColumnsToContents()
        self.table.clearSelection()
        self.table.blockSignals(False)
        if previous is not None:
            row = next((r for r, it in enumerate(items) if it.bbox == previous.bbox), None)
            if row is None:
                row = next((r for r, it in enumerate(items) if _contains(it, previous.center)), None)
            if row is not None:
                self.table.blockSignals(True)
                self.table.selectRow(row)
                self.table.blockSignals(False)
        classes = len({it.value for it in items})
        flagged = sum(1 for f in flags if f)
        self.summary.setText(f"{len(items)} instance(s) of {classes} class(es) in the {source}"
                             + (f"; {flagged} flagged for review" if flagged else ""))
        self.refresh_buttons()

    def selected_row(self) -> int:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        return rows[0].row() if rows and rows[0].row() < len(self.items) else -1

    def selected_item(self) -> InstanceItem | None:
        row = self.selected_row()
        return self.items[row] if row >= 0 else None

    def select(self, row: int) -> None:
        self.table.selectRow(row)

    def _selected(self) -> None:
        self.refresh_buttons()
        row = self.selected_row()
        if row >= 0:
            self.row_selected.emit(row)
            item = self.items[row]                   # suggest the neighbouring number (36 -> 37), never a no-op
            index = self.new_class.findData(item.value)
            along = [v for v in (neighbour_tooth(item.value, 1), neighbour_tooth(item.value, -1))
                     if v is not None and self.new_class.findData(v) >= 0]
            if along:                                # FDI: the next tooth along the arch (18 -> 17, 11 -> 21)
                self.new_class.setCurrentIndex(self.new_class.findData(along[0]))
            elif index >= 0:
                self.new_class.setCurrentIndex(index + 1 if index + 1 < self.new_class.count() else max(index - 1, 0))

    def _rename(self) -> None:
        row, value = self.selected_row(), self.new_class.currentData()
        if row >= 0 and value is not None:
            self.rename_requested.emit(row, int(value))

    def refresh_buttons(self) -> None:
        editable = self.source.currentData() == "mask"
        self.rename_button.setEnabled(editable and self.selected_row() >= 0 and self.new_class.count() > 0)
        self.rename_button.setToolTip("Give the selected instance another class (one undoable edit, Ctrl+Z)"
                                      if editable else "Only mask instances can be renamed (accept the "
                                      "prediction into the mask first)")


def _area(pixels: int, spacing: tuple[float, float] | None) -> str:
    mm2 = area_mm2(pixels, spacing)
    return f"{pixels:,}" if mm2 is None else f"{pixels:,} ({mm2:.1f} mm²)"


def _right(text: str) -> QtWidgets.QTableWidgetItem:
    item = QtWidgets.QTableWidgetItem(text)
    item.setTextAlignment(QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter)
    return item


def _contains(item: InstanceItem, point: tuple[float, float]) -> bool:
    x, y, w, h = item.bbox
    px, py = point
    return x <= px < x + w and y <= py < y + h and bool(item.crop[int(py) - y, int(px) - x])

