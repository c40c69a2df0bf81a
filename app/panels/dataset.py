"""Dataset browser dock: the sample list with lazily made thumbnails, status, split, filter and search."""

from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from app.panels.dock import PanelDock
from core.annotation.thumbnails import thumbnail
from core.data.sample import SPLITS, STATUSES, SampleIndex

STATUS_COLORS = {"unlabeled": "#8fa1b3", "labeled": "#009E73", "pseudo": "#E69F00", "reviewed": "#56B4E9",
                 "rejected": "#D55E00"}
THUMB = 56


class _ThumbSignals(QtCore.QObject):
    ready = QtCore.Signal(str, object)


class _ThumbJob(QtCore.QRunnable):
    """Own signal object per job: if the list is gone when it finishes, the result is simply dropped."""

    def __init__(self, loader: ThumbnailLoader, sample_id: str, path: str):
        super().__init__()
        self.sample_id, self.path = sample_id, path
        self.signals = _ThumbSignals()
        self.signals.ready.connect(loader._store)

    def run(self) -> None:
        try:
            arr = thumbnail(self.path, THUMB)
        except Exception:  # an unreadable image is reported when opened; its row keeps the blank thumbnail
            arr = np.zeros((1, 1), np.uint8)
        self.signals.ready.emit(self.sample_id, arr)


class ThumbnailLoader(QtCore.QObject):
    """Makes thumbnails in a private one-thread pool and hands them back on the UI thread."""

    changed = QtCore.Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.pool = QtCore.QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self.pixmaps: dict[str, QtGui.QPixmap] = {}
        self._asked: set[str] = set()

    def stop(self) -> None:
        """Drop queued jobs and wait for the running one (called when the window closes)."""
        self.pool.clear()
        self.pool.waitForDone(2000)

    def request(self, sample_id: str, path: str) -> QtGui.QPixmap | None:
        if sample_id in self.pixmaps:
            return self.pixmaps[sample_id]
        if sample_id not in self._asked:
            self._asked.add(sample_id)
            self.pool.start(_ThumbJob(self, sample_id, path))
        return None

    def _store(self, sample_id: str, arr: np.ndarray) -> None:
        h, w = arr.shape
        img = QtGui.QImage(arr.data, w, h, arr.strides[0], QtGui.QImage.Format.Format_Grayscale8).copy()
        self.pixmaps[sample_id] = QtGui.QPixmap.fromImage(img)
        self.changed.emit(sample_id)


class SampleListModel(QtCore.QAbstractListModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.index_: SampleIndex | None = None
        self.rows: list[int] = []
        self.thumbs = ThumbnailLoader(self)
        self.thumbs.changed.connect(self._thumb_ready)
        self.note_text = lambda sample_id: ""      # flags / note of an image (app.image_notes sets it)
        self._blank_thumb = QtGui.QPixmap(THUMB, THUMB * 3 // 4)
        self._blank_thumb.fill(QtGui.QColor("#232b35"))

    def set_index(self, index: SampleIndex | None) -> None:
        self.beginResetModel()
        self.index_ = index
        self.rows = list(range(len(index))) if index is not None else []
        self.endResetModel()

    def apply_filter(self, text: str, status: str, split: str, flagged: set[str] | None = None) -> None:
        """Rows whose name contains ``text`` with that status and split (and, with ``flagged``, only
        those sample ids)."""
        self.beginResetModel()
        text = text.strip().lower()
        self.rows = [i for i, s in enumerate(self.index_ or []) if (not text or text in s.id.lower())
                     and (status == "all" or s.status == status)
                     and (split == "all" or (s.split or "none") == split)
                     and (flagged is None or s.id in flagged)]
        self.endResetModel()

    def rowCount(self, parent=None) -> int:  # noqa: N802 (Qt API)
        return 0 if parent is not None and parent.isValid() else len(self.rows)

    def data(self, index: QtCore.QModelIndex, role: int = QtCore.Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or self.index_ is None:
            return None
        sample = self.index_[self.rows[index.row()]]
        if role == QtCore.Qt.ItemDataRole.DisplayRole:
            note = self.note_text(sample.id)
            return f"{sample.id}\n{sample.status} · {sample.split or 'no split'}" + (f"  ⚑ {note}" if note else "")
        if role == QtCore.Qt.ItemDataRole.DecorationRole:
            return self.thumbs.request(sample.id, str(sample.image)) or self._blank_thumb
        if role == QtCore.Qt.ItemDataRole.ToolTipRole:
            mask = self.index_.rel(sample.mask) or "no mask"
            return f"{self.index_.rel(sample.image)}\nmask: {mask}"
        if role == QtCore.Qt.ItemDataRole.UserRole:
            return self.rows[index.row()]
        return None

    def refresh_sample(self, position: int) -> None:
        if position in self.rows:
            row = self.rows.index(position)
            self.dataChanged.emit(self.index(row), self.index(row))

    def _thumb_ready(self, sample_id: str) -> None:
        if self.index_ is None or sample_id not in self.index_:
            return
        position = next(i for i, s in enumerate(self.index_) if s.id == sample_id)
        self.refresh_sample(position)


class _StatusDelegate(QtWidgets.QStyledItemDelegate):
    """Draws a coloured status stripe at the left of each row."""

    def paint(self, painter, option, index):
        super().paint(painter, option, index)
        model = index.model()
        sample = model.index_[model.rows[index.row()]]
        painter.save()
        painter.fillRect(QtCore.QRect(option.rect.left(), option.rect.top() + 3, 3, option.rect.height() - 6),
                         QtGui.QColor(STATUS_COLORS.get(sample.status, "#8fa1b3")))
        painter.restore()


class DatasetPanel(PanelDock):
    activated = QtCore.Signal(int)  # position in the index

    def __init__(self, parent=None):
        super().__init__("Dataset", "datasetDock", parent)
        lay = self.body_layout
        self.summary = QtWidgets.QLabel("No folder open")
        self.summary.setObjectName("hint")
        self.search = QtWidgets.QLineEdit(placeholderText="Search by name...")
        self.search.setClearButtonEnabled(True)
        self.status = QtWidgets.QComboBox()
        self.status.addItems(["all", *STATUSES])
        self.split = QtWidgets.QComboBox()
        self.split.addItems(["all", *SPLITS, "none"])
        self.flag = QtWidgets.QComboBox()
        self.flag.setObjectName("flagFilter")
        self.flag.addItem("all")
        self.flag.setToolTip("Show only images with this flag")
        self.flag_filter = lambda flag: set()     # flag -> sample ids (app.image_notes sets it)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(QtWidgets.QLabel("Status"))
        row.addWidget(self.status, 1)
        row.addWidget(QtWidgets.QLabel("Split"))
        row.addWidget(self.split, 1)
        row.addWidget(QtWidgets.QLabel("Flag"))
        row.addWidget(self.flag, 1)
        self.model = SampleListModel(self)
        self.list = QtWidgets.QListView()
        self.list.setModel(self.model)
        self.list.setIconSize(QtCore.QSize(THUMB, THUMB * 3 // 4))
        self.list.setUniformItemSizes(True)
        self.list.setItemDelegate(_StatusDelegate(self.list))
        self.list.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        for w in (self.summary, self.search):
            lay.addWidget(w)
        lay.addLayout(row)
        lay.addWidget(self.list, 1)
        self.search.textChanged.connect(self._filter)
        self.status.currentTextChanged.connect(self._filter)
        self.split.currentTextChanged.connect(self._filter)
        self.flag.currentTextChanged.connect(self._filter)
        self.list.clicked.connect(self._clicked)
        self.list.activated.connect(self._clicked)

    def set_index(self, index: SampleIndex | None) -> None:
        self.model.thumbs.pixmaps.clear()
        self.model.thumbs._asked.clear()
        self.model.set_index(index)
        self.update_summary()

    def update_summary(self) -> None:
        index = self.model.index_
        if index is None:
            self.summary.setText("No folder open")
            return
        c = index.counts()
        self.summary.setText(f"{c['images']} images · {c['labeled']} with mask · layout {index.layout}")

    def _filter(self, *_):
        flag = self.flag.currentText()
        self.model.apply_filter(self.search.text(), self.status.currentText(), self.split.currentText(),
                                None if flag == "all" else self.flag_filter(flag))

    def _clicked(self, qindex: QtCore.QModelIndex) -> None:
        self.activated.emit(self.model.data(qindex, QtCore.Qt.ItemDataRole.UserRole))

    def select_position(self, position: int) -> None:
        """Highlight ``position`` without emitting ``activated`` (the window already opened it)."""
        self.model.refresh_sample(position)
        if position in self.model.rows:
            qi = self.model.index(self.model.rows.index(position))
            self.list.setCurrentIndex(qi)
            self.list.scrollTo(qi)
        self.update_summary()
