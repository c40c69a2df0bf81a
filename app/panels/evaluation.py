"""Evaluation dock: per-image Dice / IoU of one model (or two side by side) on a split, sortable.

Every row says where its label came from (train / val / test / accepted pseudo-label) and shows the
model's estimated Dice next to the true one; each split choice says what it holds, and a split that
mixes in training images says so (its summary scores every origin apart). Clicking a row asks the
controller to open that image with the model's prediction and the error overlay (false positives /
negatives). Numbers come from ``core.train.evaluate``.
"""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from app.panels.dock import PanelDock
from core.data.origins import ORIGIN_TEXT, ORIGINS

NONE = "(none)"


def _dice(report: dict) -> str:
    """Dice with n images, n groups and the 95 % interval over groups (and why it is weak, if it is)."""
    from core.train.confidence import describe

    return describe({"dice": report["dice"], "ci": report.get("ci"), "n": report["n"],
                     "groups": report.get("groups", report["n"]), "ci_note": report.get("ci_note", "")})


class _Num(QtWidgets.QTableWidgetItem):
    """Sorts numerically; empty cells last."""

    def __init__(self, value: float | None):
        super().__init__("" if value is None else f"{value:.4f}")
        self.value = value

    def __lt__(self, other):  # noqa: D105
        a = self.value if self.value is not None else float("inf")
        b = other.value if isinstance(other, _Num) and other.value is not None else float("inf")
        return a < b


SPLITS = ("test", "val", "heldout", "train", "all")
OPTIMISTIC = ("train", "accepted")  # origins whose scores flatter the model


def split_text(split: str, counts: dict[str, int], origins: dict[str, int]) -> str:
    """What a split choice holds, in words, with its number of labeled images."""
    n = {"heldout": counts.get("test", 0) + counts.get("val", 0)}.get(split, counts.get(split, 0))
    if split == "test":
        return f"test: {n} held out, never used in training"
    if split == "val":
        return f"val: {n} that chose the checkpoint and its rules"
    if split == "heldout":
        return f"held out (val + test): {n}"
    if split == "train":
        return f"train: {n} the model learned from (optimistic)"
    parts = [f"{origins[o]} {ORIGIN_TEXT[o]}" for o in ORIGINS if origins.get(o)]
    mixed = " (includes training images)" if any(origins.get(o) for o in OPTIMISTIC) else ""
    return f"all: {n} = {' + '.join(parts) or '0'}{mixed}"


class EvaluationPanel(PanelDock):
    run_requested = QtCore.Signal(str, str, str)   # model A, model B ("" = none), split
    open_requested = QtCore.Signal(str, str)       # sample id, model name

    def __init__(self, parent=None):
        super().__init__("Evaluation", "evaluationDock", parent)
        lay = self.body_layout
        form = QtWidgets.QFormLayout()
        self.model_a, self.model_b, self.split = QtWidgets.QComboBox(), QtWidgets.QComboBox(), QtWidgets.QComboBox()
        self.model_a.setObjectName("evalModelA")
        self.model_b.setObjectName("evalModelB")
        self.split.setObjectName("evalSplit")
        for split in SPLITS:
            self.split.addItem(split, split)
        form.addRow("Model", self.model_a)
        form.addRow("Compare with", self.model_b)
        form.addRow("Split", self.split)
        lay.addLayout(form)
        self.run_button = QtWidgets.QPushButton("Evaluate")
        self.run_button.setObjectName("evalRun")
        self.run_button.clicked.connect(self._run)
        lay.addWidget(self.run_button)
        self.summary = QtWidgets.QLabel("")
        self.summary.setObjectName("evalSummary")
        self.summary.setWordWrap(True)
        lay.addWidget(self.summary)
        self.table = QtWidgets.QTableWidget(0, 3)
        self.table.setObjectName("evalTable")
        self.table.setHorizontalHeaderLabels(["Image", "Dice", "IoU"])
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setSortingEnabled(True)
        self.table.cellClicked.connect(self._clicked)
        lay.addWidget(self.table, 1)
        self.names: tuple[str, str] = ("", "")
        self.torch_available = True   # False in the slim build: Evaluate stays off

    def set_models(self, names: list[str], active: str) -> None:
        for combo, extra in ((self.model_a, []), (self.model_b, [NONE])):
            keep = combo.currentText()
            combo.clear()
            combo.addItems(extra + names)
            combo.setCurrentText(keep if keep in names else (active if combo is self.model_a else NONE))
        self.run_button.setEnabled(bool(names) and self.torch_available)

    def set_split_counts(self, counts: dict[str, int], origins: dict[str, int] | None = None) -> None:
        """Say what each split holds and how many labeled images; leave an empty split for the next one
        that has labels (small projects hold out no test split, see core.hitl.split_policy.split_ratios)."""
        origins = origins or {"train": counts.get("train", 0), "val": counts.get("val", 0),
                              "test": counts.get("test", 0)}
        counts = {**counts, "heldout": counts.get("test", 0) + counts.get("val", 0)}
        for i in range(self.split.count()):
            self.split.setItemText(i, split_text(self.split.itemData(i), counts, origins))
        if counts.get(self.split.currentData(), 0) == 0:
            first = next((s for s in SPLITS if counts.get(s, 0)), None)
            if first is not None:
                self.split.setCurrentIndex(self.split.findData(first))

    def select_split(self, split: str) -> None:
        self.split.setCurrentIndex(self.split.findData(split))

    def _run(self) -> None:
        b = self.model_b.currentText()
        self.run_requested.emit(self.model_a.currentText(), "" if b == NONE else b, self.split.currentData())

    def show_reports(self, a: dict, b: dict | None, names: tuple[str, str]) -> None:
        self.names = names
        rows_b = {r["id"]: r for r in (b or {}).get("per_image", [])}
        headers = ["Image", f"Dice {names[0]}", f"IoU {names[0]}"]
        if b is not None:
            headers += [f"Dice {names[1]}", "Δ Dice"]
        extra = len(headers)
        headers += ["Origin", f"Est. Dice {names[0]}"]
        self.table.setSortingEnabled(False)
        self.table.clear()
        self.table.setColumnCount(len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        self.table.setRowCount(len(a["per_image"]))
        for r, row in enumerate(a["per_image"]):
            self.table.setItem(r, 0, QtWidgets.QTableWidgetItem(row["id"]))
            self.table.setItem(r, 1, _Num(row["dice"]))
            self.table.setItem(r, 2, _Num(row["iou"]))
            if b is not None:
                other = rows_b.get(row["id"], {}).get("dice")
                self.table.setItem(r, 3, _Num(other))
                self.table.setItem(r, 4, _Num(None if other is None else other - row["dice"]))
            where = row.get("origin", "")
            item = QtWidgets.QTableWidgetItem(ORIGIN_TEXT.get(where, where))
            if where in OPTIMISTIC:
                item.setForeground(QtGui.QColor("#D55E00"))
                item.setToolTip("The model learned from this mask (or made it): its score flatters the model")
            self.table.setItem(r, extra, item)
            self.table.setItem(r, extra + 1, _Num(row.get("quality")))
        self.table.setSortingEnabled(True)
        self.table.sortItems(1, QtCore.Qt.SortOrder.AscendingOrder)
        self.table.resizeColumnsToContents()
        text = f"<b>{names[0]}</b>: {_dice(a)}, IoU {a['iou']:.3f} on the {a['split']} split"
        origins = a.get("by_origin", {})
        if len(origins) > 1:
            text += "<br>by origin: " + ", ".join(f"{ORIGIN_TEXT[o]} {v['dice']:.3f} (n={v['n']})"
                                                  for o, v in origins.items())
        mixed = [ORIGIN_TEXT[o] for o in OPTIMISTIC if o in origins]
        if mixed:
            text += (f"<br><span style='color:#D55E00'>includes {' and '.join(mixed)} images: this score "
                     "flatters the model; the held-out split measures the next patient</span>")
        if b is not None:
            text += f"<br><b>{names[1]}</b>: {_dice(b)}, IoU {b['iou']:.3f}"
        if a.get("tta"):
            text += "<br>with flip test-time augmentation (Model menu)"
        self.summary.setText(text)

    def _clicked(self, row: int, _col: int) -> None:
        item = self.table.item(row, 0)
        if item is not None:
            self.open_requested.emit(item.text(), self.names[0])
