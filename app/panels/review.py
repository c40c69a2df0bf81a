"""Review queue dock: pseudo-labels of unlabeled images ranked by their estimated Dice.

Each mask carries an estimated Dice (``core.infer.quality``, calibrated when the model was trained) and
its flags (size or position unlike the labels, disagreement with the mirror image, a low estimate);
flagged rows are coloured, Y on one asks first, and "Accept likely right" never takes them. Accept (Y),
reject (N) or edit (R: open in the editor with the pseudo mask applied, then Y saves the edited mask).
``app.controllers.review`` owns the ``core.hitl.review.ReviewQueue``; this panel lists it.
"""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from app.actions import key_of
from app.panels.dock import PanelDock
from app.panels.tables import row_table
from core.hitl.review import BULK_MIN_QUALITY

KEYS = {k: key_of(f"review_{k}") for k in ("accept", "reject", "edit")}
COLUMNS = ("Image", "Est. Dice", "Check", "Area")
FLAGGED_BG = QtGui.QColor(213, 94, 0, 70)      # Okabe-Ito vermillion, translucent: a mask to look at
LOW, HIGH = QtGui.QColor("#D55E00"), QtGui.QColor("#009E73")


class ReviewPanel(PanelDock):
    predict_requested = QtCore.Signal()
    show_requested = QtCore.Signal(str)
    accept_requested = QtCore.Signal(str)
    reject_requested = QtCore.Signal(str)
    edit_requested = QtCore.Signal(str)
    order_changed = QtCore.Signal(str)
    bulk_accept_requested = QtCore.Signal()

    def __init__(self, parent=None):
        super().__init__("Review", "reviewDock", parent)
        lay = self.body_layout
        top = QtWidgets.QHBoxLayout()
        self.predict_button = QtWidgets.QPushButton("Predict unlabeled for review")
        self.predict_button.setObjectName("reviewPredict")
        self.predict_button.clicked.connect(self.predict_requested)
        self.order = QtWidgets.QComboBox()
        self.order.setObjectName("reviewOrder")
        self.order.addItem("Most likely right first", "right")
        self.order.addItem("Most likely wrong first", "wrong")
        self.order.setToolTip("Ranked by each mask's estimated Dice; flagged masks come last (or first)")
        self.order.currentIndexChanged.connect(lambda _i: self.order_changed.emit(self.order.currentData()))
        top.addWidget(self.predict_button, 1)
        top.addWidget(self.order)
        lay.addLayout(top)
        self.table = row_table(COLUMNS, "reviewTable", stretch_last=False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(60)
        self.table.itemSelectionChanged.connect(self._selection)
        lay.addWidget(self.table, 1)
        row = QtWidgets.QHBoxLayout()
        self.buttons = {}
        for key, text in (("accept", "Accept"), ("edit", "Edit"), ("reject", "Reject")):
            b = QtWidgets.QPushButton(f"{text} ({KEYS[key]})")
            b.setObjectName(f"review_{key}")
            b.clicked.connect(lambda _c=False, k=key: self.trigger(k))
            row.addWidget(b)
            self.buttons[key] = b
        lay.addLayout(row)
        self.bulk_button = QtWidgets.QPushButton("Accept likely right")
        self.bulk_button.setObjectName("reviewBulkAccept")
        self.bulk_button.setToolTip(f"Accept every unflagged mask estimated at Dice {BULK_MIN_QUALITY:.2f} or more; "
                                    "only when the model's estimate ranked its held-out labels well (Spearman "
                                    "≥ 0.6); flagged masks always need your look")
        self.bulk_button.clicked.connect(self.bulk_accept_requested)
        lay.addWidget(self.bulk_button)
        self.counts = QtWidgets.QLabel("")
        self.counts.setObjectName("reviewCounts")
        self.counts.setStyleSheet("color: #8a939c;")
        lay.addWidget(self.counts)
        self.ids: list[str] = []

    def set_items(self, items: list, counts: dict[str, int], bulk: int = 0) -> None:
        """List the queue; ``bulk`` = how many masks "Accept likely right" would take."""
        current = self.current()
        self.ids = [x.id for x in items]
        self.table.blockSignals(True)
        self.table.clearSelection()  # so selecting the next item always shows it, even in the same row
        self.table.setRowCount(len(items))
        for r, x in enumerate(items):
            flagged = bool(x.flags) or not x.plausible
            check = "; ".join(x.flags) if x.flags else ("implausible" if not x.plausible else "ok")
            quality = f"{x.quality:.2f}" if x.quality >= 0 else "—"
            for c, text in enumerate((x.id, quality, check, f"{x.area_frac:.3f}")):
                item = QtWidgets.QTableWidgetItem(text)
                if flagged:
                    item.setBackground(FLAGGED_BG)
                    item.setToolTip(f"Flagged: {check}. Look before accepting; bulk accept skips it.")
                self.table.setItem(r, c, item)
            if x.quality >= 0:
                self.table.item(r, 1).setForeground(HIGH if x.quality >= BULK_MIN_QUALITY else
                                                    LOW if x.quality < 0.5 else self.table.palette().text().color())
        self.table.blockSignals(False)
        flagged = sum(1 for x in items if x.flags or not x.plausible)
        self.counts.setText(f"{counts.get('pending', 0)} waiting, {counts.get('reviewed', 0)} accepted, "
                            f"{counts.get('rejected', 0)} rejected; {flagged} flagged")
        if items and not any(x.trusted for x in items):
            self.bulk_button.setText("Accept likely right: off (the estimate did not rank your held-out labels)")
        else:
            self.bulk_button.setText(f"Accept {bulk} likely right (est. Dice ≥ {BULK_MIN_QUALITY:.2f}, unflagged)")
        self.bulk_button.setEnabled(bulk > 0)
        for b in self.buttons.values():
            b.setEnabled(bool(items))
        if items:
            self.select(current if current in self.ids else self.ids[0])

    def current(self) -> str:
        rows = self.table.selectionModel().selectedRows()
        return self.ids[rows[0].row()] if rows and rows[0].row() < len(self.ids) else ""

    def select(self, sample_id: str) -> None:
        if sample_id in self.ids:
            self.table.selectRow(self.ids.index(sample_id))

    def _selection(self) -> None:
        sid = self.current()
        if sid:
            self.show_requested.emit(sid)

    def trigger(self, key: str) -> None:
        sid = self.current()
        if not sid:
            return
        {"accept": self.accept_requested, "reject": self.reject_requested, "edit": self.edit_requested}[key].emit(sid)
