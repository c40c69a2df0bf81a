"""Label next dock: unlabeled images ranked by ``core.train.suggest`` (brightness, or model uncertainty;
coverage on request)."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from app.panels.dock import PanelDock

# combo text -> suggest method (None: brightness until a model exists, then its uncertainty)
RANKINGS = {"Automatic": None,
            "Coverage (typical images no label covers yet)": "coverage",
            "Brightness in the depth band": "brightness",
            "Model uncertainty (entropy)": "entropy",
            "Model uncertainty (flip disagreement)": "tta"}


class LabelNextPanel(PanelDock):
    refresh_requested = QtCore.Signal()
    open_requested = QtCore.Signal(str)

    def __init__(self, parent=None):
        super().__init__("Label next", "labelNextDock", parent)
        lay = self.body_layout
        self.refresh_button = QtWidgets.QPushButton("Rank unlabeled images")
        self.refresh_button.setObjectName("labelNextRefresh")
        self.refresh_button.clicked.connect(self.refresh_requested)
        lay.addWidget(self.refresh_button)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(QtWidgets.QLabel("Rank by"))
        self.ranking = QtWidgets.QComboBox()
        self.ranking.setObjectName("labelNextRanking")
        self.ranking.addItems(list(RANKINGS))
        self.ranking.setToolTip("Automatic: brightness until a model exists, then its uncertainty.\n"
                                "Coverage needs no model: one typical image from each group of similar\n"
                                "images without a label yet — a good first set to label.")
        row.addWidget(self.ranking, 1)
        lay.addLayout(row)
        self.method = QtWidgets.QLabel("Ranks by brightness until a model exists, then by its uncertainty.")
        self.method.setObjectName("labelNextMethod")
        self.method.setWordWrap(True)
        self.method.setStyleSheet("color: #8a939c;")
        lay.addWidget(self.method)
        self.list = QtWidgets.QListWidget()
        self.list.setObjectName("labelNextList")
        self.list.itemActivated.connect(self._open)
        self.list.itemDoubleClicked.connect(self._open)
        lay.addWidget(self.list, 1)
        self.ids: list[str] = []

    def chosen_method(self) -> str | None:
        return RANKINGS[self.ranking.currentText()]

    def set_ranking(self, report: dict) -> None:
        self.list.clear()
        self.ids = [r["id"] for r in report.get("ranked", [])]
        for r in report.get("ranked", []):
            item = QtWidgets.QListWidgetItem(f"{r['rank']:>3}.  {r['id']}   ({r['score']:.3f})")
            item.setData(QtCore.Qt.ItemDataRole.UserRole, r["id"])
            self.list.addItem(item)
        method = {"brightness": "brightness in the depth band",
                  "coverage": "coverage (share of the folder each one newly covers)",
                  "entropy": "model uncertainty (prediction entropy)",
                  "tta": "model uncertainty (flip disagreement)"}.get(report.get("method", ""), "")
        self.method.setText(f"{report.get('n', 0)} candidates, ranked by {method}")

    def _open(self, item: QtWidgets.QListWidgetItem) -> None:
        self.open_requested.emit(str(item.data(QtCore.Qt.ItemDataRole.UserRole)))
