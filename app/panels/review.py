"""Review queue dock: pseudo-labels of unlabeled images ranked by their estimated Dice.

Each mask carries an estimated Dice (``core.infer.quality``, calibrated when the model was trained) and
its flags (size or position unlike the labels, disagreement with the mirror image, a low estimate);
flagged rows are coloured, Y on one asks first, and "Accept likely right" never takes them. Accept (Y),
reject (N) or edit (R: open in the editor with the pseudo mask applied, then Y saves the edited mask).
The controller owns the ``core.hitl.review.ReviewQueue``; this panel lists it.
"""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from app.actions import key_of
from app.panels.dock import PanelDock
from app.panels.tables import row_table
from app.workers import describe, show_error
from core.annotation import display
from core.hitl import library
from core.hitl.review import BULK_MIN_QUALITY, predict_for_review, review_candidates

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


def read_image_file(path):
    from core.data.io import read_image

    return read_image(path)


class ReviewActions:
    """The review and prediction half of app.hitl.HitlController (a mixin; state lives there)."""

    def predict(self, which: str) -> None:
        project = self._project()
        if project is None:
            return
        onnx = library.active_onnx(project)
        if onnx is None:
            show_error(self.w, "Predict", "No active model with an ONNX file; train or export one first.")
            return
        s = self.session
        if which == "current":
            if s.sample is None:
                return
            sample, lut = s.sample, self.w.canvas.lut
            labels = s.editor.labels if s.editor is not None else None

            def predict_and_colour():   # the colouring of a 2943x1435 result takes as long as a frame or ten
                p = self.predictor(onnx).predict(read_image_file(sample.image))
                return p, display.prediction_layers(p.mask, lut, labels)

            self._run("Predict", predict_and_colour,
                      on_done=lambda r: self._show_prediction(sample.id, r[0].mask, onnx, r[0], r[1]))
            return
        samples = review_candidates(s.index)
        if which == "selection":
            listed = {s.index[i].id for i in self.w.dataset.model.rows}
            samples = [x for x in samples if x.id in listed]
        self._run("Predict unlabeled", predict_for_review, project, samples, onnx, tta=self.tta,
                  on_done=self._predicted)

    def _show_prediction(self, sample_id: str, mask, model: Path, prediction=None, layers=None) -> None:
        s = self.session
        s.set_prediction(sample_id, mask)
        listing = getattr(self.w, "instance_list", None)
        predictor = self._predictors.get(str(model))
        if listing is not None and prediction is not None and predictor is not None:
            values = predictor.class_values.tolist() if predictor.class_values is not None else None
            listing.set_prediction_details(sample_id, prediction, values)
        if s.sample is not None and s.sample.id == sample_id:
            self.w.canvas.set_prediction(mask, layers)
        provider = getattr(self._predictors.get(str(model)), "provider", "")
        self.status(f"Predicted {sample_id} with {model.parent.name} on {provider}")

    def _predicted(self, result: dict) -> None:
        if self.queue is None:
            return
        self.queue.add(result["items"])
        for item in result["items"]:
            self.session.set_prediction(item.id, self.queue.mask(item.id))
        self.w.dataset.model.layoutChanged.emit()
        failed = f", {len(result['failed'])} failed" if result["failed"] else ""
        self.models.show_info(f"Predicted {len(result['items'])} images with ONNX Runtime on {result['provider']}")
        self.status(f"Predicted {len(result['items'])} images on {result['provider']} in "
                    f"{result['seconds']:.1f} s{failed}; review them in the Review queue")
        self.refresh_review()
        self.review.raise_()

    def refresh_review(self) -> None:
        if self.queue is not None:
            self.review.set_items(self.queue.pending(self.review.order.currentData()), self.queue.counts(),
                                  len(self.queue.bulk_candidates()))

    def accept_likely(self) -> None:
        """Accept every unflagged mask estimated likely right, after one question; flagged ones stay."""
        if self.queue is None:
            return
        ids = [x.id for x in self.queue.bulk_candidates()]
        if not ids or not self.w.ask(f"Accept {len(ids)} pseudo-labels estimated at Dice {BULK_MIN_QUALITY:.2f} or "
                                     "more as training labels? Flagged masks are not included."):
            return
        try:
            self.queue.accept_many(ids)
        except Exception as exc:
            show_error(self.w, "Accept pseudo-labels", *describe(exc))
        else:
            self.status(f"Accepted {len(ids)} pseudo-labels estimated likely right")
        for sid in ids:
            self.session.cache.discard(sid)
        self.w.dataset.model.layoutChanged.emit()
        self.w.dataset.update_summary()
        self.refresh_review()

    def open_sample(self, sample_id: str) -> bool:
        s = self.session
        if s is None or sample_id not in s.index:
            return False
        if s.sample is None or s.sample.id != sample_id:
            return bool(self.w.select(s.index.samples.index(s.index[sample_id])))
        return True

    def show_pseudo(self, sample_id: str) -> None:
        if self.queue is not None and sample_id in self.queue.items and self.open_sample(sample_id):
            mask = self.queue.mask(sample_id)
            self.session.set_prediction(sample_id, mask)
            self.w.canvas.set_prediction(mask)

    def edit(self, sample_id: str) -> None:
        self.show_pseudo(sample_id)
        if self.session.sample is not None and self.session.sample.id == sample_id:
            self.w.tools.accept_prediction(None)
            self.editing = sample_id
            self.status(f"Correct the mask, then press {KEYS['accept']} to accept it")

    def accept(self, sample_id: str) -> None:
        s = self.session
        item = self.queue.items.get(sample_id) if self.queue is not None else None
        edited = self.editing == sample_id or s.dirty
        if item is not None and (item.flags or not item.plausible) and not edited and not self.w.ask(
                f"{sample_id} is flagged ({'; '.join(item.flags) or 'implausible'}; estimated Dice "
                f"{item.quality:.2f}). Accept it as a training label anyway?"):
            return
        try:
            if (self.editing == sample_id or s.dirty) and s.sample is not None and s.sample.id == sample_id:
                self.w.save_now(quiet=True)
                self.queue.accept(sample_id, s.editor.labels.copy())
            else:
                self.queue.accept(sample_id)
        except Exception as exc:
            show_error(self.w, "Accept pseudo-label", *describe(exc))
            return
        self._judged(sample_id, "accepted")

    def reject(self, sample_id: str) -> None:
        try:
            self.queue.reject(sample_id)
        except Exception as exc:
            show_error(self.w, "Reject pseudo-label", *describe(exc))
            return
        self.session.set_prediction(sample_id, None)
        self._judged(sample_id, "rejected")

    def _judged(self, sample_id: str, verdict: str) -> None:
        s = self.session
        self.editing = ""
        s.cache.discard(sample_id)
        position = s.index.samples.index(s.index[sample_id])
        if s.sample is not None and s.sample.id == sample_id:
            s.dirty = False
            self.w.select(position)
        self.w.dataset.model.refresh_sample(position)
        self.w.dataset.update_summary()
        self.status(f"{sample_id}: pseudo-label {verdict}")
        self.refresh_review()
