"""Dataset browser dock: the sample list with lazily made thumbnails, status, split, filter and search."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

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
        try:
            self.signals.ready.emit(self.sample_id, arr)
        except RuntimeError:   # the window closed meanwhile (its signal object is gone): drop the result
            pass


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


_ROLES = frozenset({QtCore.Qt.ItemDataRole.DisplayRole, QtCore.Qt.ItemDataRole.DecorationRole,
                    QtCore.Qt.ItemDataRole.ToolTipRole, QtCore.Qt.ItemDataRole.UserRole})


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

    def apply_filter(self, text: str, status: str, split: str, flagged: set[str] | None = None,
                     group: str = "") -> None:
        """Rows whose name contains ``text`` with that status and split (and, with ``flagged``, only
        those sample ids; with ``group``, only that acquisition group)."""
        self.beginResetModel()
        text = text.strip().lower()
        self.rows = [i for i, s in enumerate(self.index_ or []) if (not text or text in s.id.lower())
                     and (status == "all" or s.status == status)
                     and (split == "all" or (s.split or "none") == split)
                     and (flagged is None or s.id in flagged) and (not group or s.group == group)]
        self.endResetModel()

    def rowCount(self, parent=None) -> int:  # noqa: N802 (Qt API)
        return 0 if parent is not None and parent.isValid() else len(self.rows)

    def data(self, index: QtCore.QModelIndex, role: int = QtCore.Qt.ItemDataRole.DisplayRole):
        # a row's paint asks for ~10 roles; the ones not answered return before any lookup (the list
        # repaints rows while a folder opens and thumbnails arrive, on the UI thread)
        if role not in _ROLES or not index.isValid() or self.index_ is None:
            return None
        sample = self.index_[self.rows[index.row()]]
        if role == QtCore.Qt.ItemDataRole.DisplayRole:
            note = self.note_text(sample.id)
            group = group_label(sample)
            return (f"{sample.id}\n{sample.status} · {sample.split or 'no split'}" + (f" · {group}" if group else "")
                    + (f"  ⚑ {note}" if note else ""))
        if role == QtCore.Qt.ItemDataRole.DecorationRole:
            return self.thumbs.request(sample.id, str(sample.image)) or self._blank_thumb
        if role == QtCore.Qt.ItemDataRole.ToolTipRole:
            mask = self.index_.rel(sample.mask) or "no mask"
            group = group_label(sample)
            return f"{self.index_.rel(sample.image)}\nmask: {mask}" + (f"\nacquisition group: {group}" if group else "")
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


def group_label(sample) -> str:
    """The sample's acquisition group in words (core.data.groups), "" when it is only the image itself."""
    group = sample.group or ""
    if not group or group in (sample.id, Path(sample.id).name):
        return ""
    kind, _, name = group.partition(":")
    return {"seq": f"clip {name}", "look": f"looks like {name}", "block": f"block {name}",
            "name": name, "layout": name}.get(kind, group)


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
        self.group = QtWidgets.QComboBox()  # acquisition groups: frames of one clip, images of one patient
        self.group.setObjectName("groupFilter")
        self.group.setToolTip("Acquisition groups (patient, series, clip): validation never shares one with "
                              "training. Found when you first train, or with `toothseg groups DIR`.")
        self._groups: list[str] | None = None
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
        grow = QtWidgets.QHBoxLayout()
        grow.addWidget(QtWidgets.QLabel("Group"))
        grow.addWidget(self.group, 1)
        lay.addLayout(grow)
        lay.addWidget(self.list, 1)
        self.group.currentIndexChanged.connect(self._filter)
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
        self._update_groups(index)
        groups = f" · {len(self._groups)} acquisition groups" if self._groups else ""
        self.summary.setText(f"{c['images']} images · {c['labeled']} with mask · layout {index.layout}{groups}")

    def _update_groups(self, index: SampleIndex) -> None:
        """Refill the group filter when the index's groups changed (e.g. found by the first training)."""
        counts = Counter(s.group for s in index if group_label(s))
        groups = sorted(counts)
        if groups == self._groups:
            return
        current = self.group.currentData()
        self._groups = groups
        self.group.blockSignals(True)
        self.group.clear()
        self.group.addItem("all groups" if groups else "no groups found yet", "")
        by_group = {s.group: s for s in index if s.group in counts}
        for g in groups:
            self.group.addItem(f"{group_label(by_group[g])} ({counts[g]})", g)
        self.group.setCurrentIndex(max(0, self.group.findData(current)))
        self.group.setEnabled(bool(groups))
        self.group.blockSignals(False)

    def _filter(self, *_):
        flag = self.flag.currentText()
        self.model.apply_filter(self.search.text(), self.status.currentText(), self.split.currentText(),
                                None if flag == "all" else self.flag_filter(flag), self.group.currentData() or "")

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
