"""A small dental chart of the FDI class table: every tooth one click away, laid out as the mouth.

Rows are the upper and lower jaw as the clinician looks at the patient (patient's right on the
left): 18..11 | 21..28 above, 48..41 | 31..38 below, with the deciduous rows (55..51 | 61..65,
85..81 | 71..75) inside when the table has them. A tooth missing from the table is shown disabled.
"""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from core.data.classes import ClassDef

ROWS = (
    [18, 17, 16, 15, 14, 13, 12, 11, 21, 22, 23, 24, 25, 26, 27, 28],
    [None, None, None, 55, 54, 53, 52, 51, 61, 62, 63, 64, 65, None, None, None],
    [None, None, None, 85, 84, 83, 82, 81, 71, 72, 73, 74, 75, None, None, None],
    [48, 47, 46, 45, 44, 43, 42, 41, 31, 32, 33, 34, 35, 36, 37, 38],
)


class FdiChart(QtWidgets.QWidget):
    picked = QtCore.Signal(int)                 # a tooth's class value

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("fdiChart")
        grid = QtWidgets.QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(1)
        grid.setVerticalSpacing(1)
        self.buttons: dict[int, QtWidgets.QToolButton] = {}
        for r, row in enumerate(ROWS):
            for c, value in enumerate(row):
                if value is None:
                    continue
                b = QtWidgets.QToolButton()
                b.setObjectName(f"fdi_{value}")
                b.setText(str(value))
                b.setCheckable(True)
                b.setAutoRaise(False)
                b.setFixedSize(22, 20)
                b.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)   # the canvas keeps the keys
                b.clicked.connect(lambda _=False, v=value: self.picked.emit(v))
                grid.addWidget(b, r + (1 if r >= 2 else 0), c + (1 if c >= 8 else 0))
                self.buttons[value] = b
        spacer_col = QtWidgets.QFrame()
        spacer_col.setFrameShape(QtWidgets.QFrame.Shape.VLine)
        grid.addWidget(spacer_col, 0, 8, 5, 1)
        line = QtWidgets.QFrame()
        line.setFrameShape(QtWidgets.QFrame.Shape.HLine)
        grid.addWidget(line, 2, 0, 1, 17)

    def set_classes(self, classes: list[ClassDef], hidden: set[int], locked: set[int]) -> None:
        table = {c.value: c for c in classes}
        for value, b in self.buttons.items():
            c = table.get(value)
            b.setVisible(c is not None or value < 50)
            b.setEnabled(c is not None)
            if c is None:
                b.setToolTip(f"Tooth {value} is not in the class table")
                b.setStyleSheet("")
                continue
            state = " (hidden)" if value in hidden else " (locked)" if value in locked else ""
            b.setToolTip(f"{c.name}{state}: click or type {value}")
            text = "#000000" if QtGui.QColor(c.color).lightness() > 140 else "#FFFFFF"
            border = "2px solid #FFFFFF" if value in locked else "1px solid #222"
            b.setStyleSheet(f"QToolButton {{ background: {c.color}; color: {text}; border: {border}; "
                            f"font-size: 9px; padding: 0; }} QToolButton:checked {{ border: 2px solid #F0E442; }}"
                            + (" QToolButton { color: #777777; }" if value in hidden else ""))

    def show_active(self, value: int) -> None:
        for v, b in self.buttons.items():
            b.setChecked(v == value)
