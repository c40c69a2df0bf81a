"""Label next dock: unlabeled images ranked by ``core.train.suggest`` (brightness, or model uncertainty)."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from app.panels.dock import PanelDock
from core.hitl import library


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

    def set_ranking(self, report: dict) -> None:
        self.list.clear()
        self.ids = [r["id"] for r in report.get("ranked", [])]
        for r in report.get("ranked", []):
            item = QtWidgets.QListWidgetItem(f"{r['rank']:>3}.  {r['id']}   ({r['score']:.3f})")
            item.setData(QtCore.Qt.ItemDataRole.UserRole, r["id"])
            self.list.addItem(item)
        method = {"brightness": "brightness in the depth band (no model yet)",
                  "entropy": "model uncertainty (prediction entropy)",
                  "tta": "model uncertainty (flip disagreement)"}.get(report.get("method", ""), "")
        self.method.setText(f"{report.get('n', 0)} candidates, ranked by {method}")

    def _open(self, item: QtWidgets.QListWidgetItem) -> None:
        self.open_requested.emit(str(item.data(QtCore.Qt.ItemDataRole.UserRole)))


class LabelNextActions:
    """Label next for app.hitl.HitlController (a mixin; state lives there)."""

    def rank_unlabeled(self) -> None:
        project = self._project()
        if project is None or not self.torch:
            return
        from core.train.suggest import suggest

        ckpt = library.active_checkpoint(project)
        self._run("Label next", suggest, self.session.root, model_path=ckpt, top=25,
                  on_done=self.label_next.set_ranking)
