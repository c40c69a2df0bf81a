"""Classes dock: add, rename, recolour, reorder, show/hide, lock; binary default, FDI presets.

The list edits ``project.classes`` (core's ClassDef objects) and tells the window, which saves the
project and recolours the canvas. Row k (1-10) is what number key k selects; on an FDI table a
dental chart puts all 32 (or 52) teeth one click away and a search field filters the list.
"""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from app.panels.fdi_chart import FdiChart
from core.data.classes import OKABE_ITO, PRESETS, ClassDef, is_fdi_tooth
from core.data.project import Project


def _swatch(color: str) -> QtGui.QIcon:
    pix = QtGui.QPixmap(14, 14)
    pix.fill(QtGui.QColor(color))
    return QtGui.QIcon(pix)


class ClassesPanel(QtWidgets.QDockWidget):
    classes_changed = QtCore.Signal()     # names, colours, order or membership changed (save project)
    display_changed = QtCore.Signal()     # visibility changed (recolour only)
    active_changed = QtCore.Signal(int)   # label value now painted

    def __init__(self, parent=None):
        super().__init__("Classes", parent)
        self.setObjectName("classesDock")
        self.project: Project | None = None
        self.hidden: set[int] = set()
        self.locked: set[int] = set()
        body = QtWidgets.QWidget()
        lay = QtWidgets.QVBoxLayout(body)
        lay.setContentsMargins(6, 6, 6, 6)
        self.chart = FdiChart()
        self.chart.picked.connect(self.select_value)
        lay.addWidget(self.chart)
        self.search = QtWidgets.QLineEdit()
        self.search.setObjectName("classSearch")
        self.search.setPlaceholderText("Find a class (name or number)")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._filter)
        self.search.returnPressed.connect(self._pick_first_match)
        lay.addWidget(self.search)
        self.list = QtWidgets.QListWidget()
        self.list.setObjectName("classList")
        self.list.setUniformItemSizes(True)
        lay.addWidget(self.list, 1)
        grid = QtWidgets.QGridLayout()
        self.buttons = {}
        for i, (name, text) in enumerate((("add", "Add"), ("rename", "Rename"), ("recolor", "Colour"),
                                          ("up", "Up"), ("down", "Down"), ("lock", "Lock"))):
            b = QtWidgets.QPushButton(text)
            b.setObjectName(f"class_{name}")
            grid.addWidget(b, i // 3, i % 3)
            self.buttons[name] = b
        lay.addLayout(grid)
        row = QtWidgets.QHBoxLayout()
        self.preset = QtWidgets.QComboBox()
        self.preset.addItem("Binary (foreground)", "binary")
        self.preset.addItem("FDI 32 teeth", "fdi")
        self.preset.addItem("FDI mixed dentition (32 + 20 deciduous)", "fdi-mixed")
        self.apply_preset_button = QtWidgets.QPushButton("Use preset")
        row.addWidget(self.preset, 1)
        row.addWidget(self.apply_preset_button)
        lay.addLayout(row)
        self.setWidget(body)
        self.buttons["add"].clicked.connect(lambda: self.add_class())
        self.buttons["rename"].clicked.connect(self._ask_rename)
        self.buttons["recolor"].clicked.connect(self._ask_color)
        self.buttons["up"].clicked.connect(lambda: self.move(self.list.currentRow(), -1))
        self.buttons["down"].clicked.connect(lambda: self.move(self.list.currentRow(), 1))
        self.buttons["lock"].setToolTip("Lock the selected class: no tool changes its pixels until unlocked")
        self.buttons["lock"].clicked.connect(lambda: self.toggle_lock(self.list.currentRow()))
        self.apply_preset_button.clicked.connect(lambda: self.apply_preset(self.preset.currentData()))
        self.list.currentRowChanged.connect(self._row_changed)
        self.list.itemChanged.connect(self._item_changed)

    @property
    def classes(self) -> list[ClassDef]:
        return self.project.classes if self.project is not None else []

    def set_project(self, project: Project | None) -> None:
        self.project = project
        self.hidden.clear()
        self.locked.clear()
        self._rebuild(0)
        self._show_preset()

    @property
    def protected(self) -> set[int]:
        """Class values no tool may change: locked or hidden."""
        return self.locked | self.hidden

    def _show_preset(self) -> None:
        """Point the preset box at the table in use (FDI when the values are the FDI teeth)."""
        values = [c.value for c in self.classes]
        for i in range(self.preset.count()):
            if values == [c.value for c in PRESETS[self.preset.itemData(i)]()]:
                self.preset.setCurrentIndex(i)

    def _rebuild(self, row: int) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        for i, c in enumerate(self.classes):
            key = f"[{(i + 1) % 10}]  " if i < 10 else "      "
            lock = "  [locked]" if c.value in self.locked else ""
            item = QtWidgets.QListWidgetItem(_swatch(c.color), f"{key}{c.name}  (value {c.value}){lock}")
            item.setFlags(item.flags() | QtCore.Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(QtCore.Qt.CheckState.Unchecked if c.value in self.hidden
                               else QtCore.Qt.CheckState.Checked)
            item.setToolTip("Untick to hide this class on the canvas (hidden classes are never painted)")
            self.list.addItem(item)
        self.list.blockSignals(False)
        fdi = sum(is_fdi_tooth(c.value) for c in self.classes) >= 8
        self.chart.setVisible(fdi)
        self.chart.set_classes(self.classes, self.hidden, self.locked)
        self._filter(self.search.text())
        if self.classes:
            self.select_row(min(max(row, 0), len(self.classes) - 1))

    def select_row(self, row: int) -> None:
        if 0 <= row < len(self.classes):
            self.list.setCurrentRow(row)
            self.active_changed.emit(self.classes[row].value)
            self.chart.show_active(self.classes[row].value)

    def select_value(self, value: int) -> bool:
        """Make the class with label value ``value`` active (chart click, eyedropper, typed number)."""
        row = next((i for i, c in enumerate(self.classes) if c.value == int(value)), -1)
        self.select_row(row)
        return row >= 0

    def step(self, delta: int) -> None:
        """Next / previous class in the table's order (next tooth along the list)."""
        if self.classes:
            self.select_row((max(self.list.currentRow(), 0) + delta) % len(self.classes))

    def toggle_lock(self, row: int) -> None:
        if 0 <= row < len(self.classes):
            self.locked ^= {self.classes[row].value}
            self._rebuild(row)
            self.display_changed.emit()

    def _filter(self, text: str) -> None:
        words = text.strip().lower()
        for i, c in enumerate(self.classes):
            item = self.list.item(i)
            if item is not None:
                item.setHidden(bool(words) and words not in f"{c.name} {c.value}".lower())

    def _pick_first_match(self) -> None:
        row = next((i for i in range(self.list.count()) if not self.list.item(i).isHidden()), -1)
        self.select_row(row)

    def active_value(self) -> int:
        row = self.list.currentRow()
        return self.classes[row].value if 0 <= row < len(self.classes) else 1

    def _row_changed(self, row: int) -> None:
        if 0 <= row < len(self.classes):
            self.active_changed.emit(self.classes[row].value)
            self.chart.show_active(self.classes[row].value)

    def _item_changed(self, item: QtWidgets.QListWidgetItem) -> None:
        value = self.classes[self.list.row(item)].value
        if item.checkState() == QtCore.Qt.CheckState.Checked:
            self.hidden.discard(value)
        else:
            self.hidden.add(value)
        self.chart.set_classes(self.classes, self.hidden, self.locked)
        self.display_changed.emit()

    # ------------------------------------------------------------------ edits
    def add_class(self, name: str | None = None, color: str | None = None) -> ClassDef | None:
        if self.project is None:
            return None
        used = {c.value for c in self.classes}
        value = next((v for v in range(1, 256) if v not in used), None)
        if value is None:
            return None
        c = ClassDef(value, name or f"class {value}", color or OKABE_ITO[len(self.classes) % len(OKABE_ITO)])
        self.classes.append(c)
        self._rebuild(len(self.classes) - 1)
        self.classes_changed.emit()
        return c

    def rename(self, row: int, name: str) -> None:
        if 0 <= row < len(self.classes) and name.strip():
            self.classes[row].name = name.strip()
            self._rebuild(row)
            self.classes_changed.emit()

    def recolor(self, row: int, color: str) -> None:
        if 0 <= row < len(self.classes) and QtGui.QColor(color).isValid():
            self.classes[row].color = QtGui.QColor(color).name().upper()
            self._rebuild(row)
            self.classes_changed.emit()

    def move(self, row: int, delta: int) -> None:
        j = row + delta
        if 0 <= row < len(self.classes) and 0 <= j < len(self.classes):
            self.classes[row], self.classes[j] = self.classes[j], self.classes[row]
            self._rebuild(j)
            self.classes_changed.emit()

    def apply_preset(self, name: str) -> None:
        if self.project is None or name not in PRESETS:
            return
        self.project.classes = PRESETS[name]()
        self.hidden.clear()
        self.locked.clear()
        self._rebuild(0)
        self._show_preset()
        self.classes_changed.emit()

    def _ask_rename(self) -> None:
        row = self.list.currentRow()
        if 0 <= row < len(self.classes):
            name, ok = QtWidgets.QInputDialog.getText(self, "Rename class", "Name:", text=self.classes[row].name)
            if ok:
                self.rename(row, name)

    def _ask_color(self) -> None:
        row = self.list.currentRow()
        if 0 <= row < len(self.classes):
            color = QtWidgets.QColorDialog.getColor(QtGui.QColor(self.classes[row].color), self, "Class colour")
            if color.isValid():
                self.recolor(row, color.name())
