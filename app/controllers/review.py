"""Review controller: predict the unlabeled images into the review queue (``core.hitl.review``), show a
pseudo-label, accept (after a question when it is flagged), reject, edit, and bulk-accept the likely right."""

from __future__ import annotations

from PySide6 import QtCore

from app.controllers.context import HitlContext
from app.controllers.prediction import PredictionController
from app.panels.review import KEYS, ReviewPanel
from core.hitl.review import BULK_MIN_QUALITY, ReviewQueue, predict_for_review, review_candidates


class ReviewController(QtCore.QObject):
    def __init__(self, ctx: HitlContext, panel: ReviewPanel, prediction: PredictionController, dataset, tools, info):
        """``dataset`` is the dataset panel (its rows repaint), ``tools`` the editor's tool controller (Edit
        applies the pseudo mask), ``info(text)`` the model library's info line."""
        super().__init__(panel)
        self.ctx, self.panel, self.prediction = ctx, panel, prediction
        self.dataset, self.tools, self.info = dataset, tools, info
        self.queue: ReviewQueue | None = None
        self.editing = ""
        panel.show_requested.connect(self.show_pseudo)
        panel.accept_requested.connect(self.accept)
        panel.reject_requested.connect(self.reject)
        panel.edit_requested.connect(self.edit)
        panel.order_changed.connect(lambda _o: self.refresh())
        panel.bulk_accept_requested.connect(self.accept_likely)

    def session_changed(self) -> None:
        s, self.queue, self.editing = self.ctx.session, None, ""
        if s is None:
            return
        try:
            self.queue = ReviewQueue(s.project, s.index)
        except Exception as exc:
            self.ctx.failed("Review queue", exc)

    def predict(self, which: str) -> None:
        """Predict the unlabeled images (``which`` = "unlabeled") or those the dataset list shows
        ("selection") with the active model's ONNX file, into the queue."""
        onnx = self.prediction.active_onnx()
        if onnx is None:
            return
        s = self.ctx.session
        samples = review_candidates(s.index)
        if which == "selection":
            listed = {s.index[i].id for i in self.dataset.model.rows}
            samples = [x for x in samples if x.id in listed]
        self.ctx.run("Predict unlabeled", predict_for_review, s.project, samples, onnx, tta=self.ctx.predictors.tta,
                     on_done=self._predicted)

    def _predicted(self, result: dict) -> None:
        if self.queue is None:
            return
        self.queue.add(result["items"])
        for item in result["items"]:
            self.ctx.session.set_prediction(item.id, self.queue.mask(item.id))
        self.dataset.model.layoutChanged.emit()
        failed = f", {len(result['failed'])} failed" if result["failed"] else ""
        self.info(f"Predicted {len(result['items'])} images with ONNX Runtime on {result['provider']}")
        self.ctx.status(f"Predicted {len(result['items'])} images on {result['provider']} in "
                        f"{result['seconds']:.1f} s{failed}; review them in the Review queue")
        self.refresh()
        self.panel.raise_()

    def refresh(self) -> None:
        if self.queue is not None:
            self.panel.set_items(self.queue.pending(self.panel.order.currentData()), self.queue.counts(),
                                 len(self.queue.bulk_candidates()))

    def accept_likely(self) -> None:
        """Accept every unflagged mask estimated likely right, after one question; flagged ones stay."""
        if self.queue is None:
            return
        ids = [x.id for x in self.queue.bulk_candidates()]
        if not ids or not self.ctx.ask(f"Accept {len(ids)} pseudo-labels estimated at Dice {BULK_MIN_QUALITY:.2f} "
                                       "or more as training labels? Flagged masks are not included."):
            return
        try:
            self.queue.accept_many(ids)
        except Exception as exc:
            self.ctx.failed("Accept pseudo-labels", exc)
        else:
            self.ctx.status(f"Accepted {len(ids)} pseudo-labels estimated likely right")
        for sid in ids:
            self.ctx.session.cache.discard(sid)
        self.dataset.model.layoutChanged.emit()
        self.dataset.update_summary()
        self.refresh()

    def show_pseudo(self, sample_id: str) -> None:
        if self.queue is not None and sample_id in self.queue.items and self.ctx.open_sample(sample_id):
            self.ctx.session.set_prediction(sample_id, self.queue.mask(sample_id))   # the canvas follows

    def edit(self, sample_id: str) -> None:
        self.show_pseudo(sample_id)
        s = self.ctx.session
        if s.sample is not None and s.sample.id == sample_id:
            self.tools.accept_prediction(None)
            self.editing = sample_id
            self.ctx.status(f"Correct the mask, then press {KEYS['accept']} to accept it")

    def accept(self, sample_id: str) -> None:
        s = self.ctx.session
        item = self.queue.items.get(sample_id) if self.queue is not None else None
        edited = self.editing == sample_id or s.dirty
        if item is not None and (item.flags or not item.plausible) and not edited and not self.ctx.ask(
                f"{sample_id} is flagged ({'; '.join(item.flags) or 'implausible'}; estimated Dice "
                f"{item.quality:.2f}). Accept it as a training label anyway?"):
            return
        try:
            if (self.editing == sample_id or s.dirty) and s.sample is not None and s.sample.id == sample_id:
                self.ctx.save_now()
                self.queue.accept(sample_id, s.editor.labels.copy())
            else:
                self.queue.accept(sample_id)
        except Exception as exc:
            self.ctx.failed("Accept pseudo-label", exc)
            return
        self._judged(sample_id, "accepted")

    def reject(self, sample_id: str) -> None:
        try:
            self.queue.reject(sample_id)
        except Exception as exc:
            self.ctx.failed("Reject pseudo-label", exc)
            return
        self.ctx.session.set_prediction(sample_id, None)
        self._judged(sample_id, "rejected")

    def _judged(self, sample_id: str, verdict: str) -> None:
        s = self.ctx.session
        self.editing = ""
        s.cache.discard(sample_id)
        position = s.index.samples.index(s.index[sample_id])
        if s.sample is not None and s.sample.id == sample_id:
            s.dirty = False
            self.ctx.select(position)
        self.dataset.model.refresh_sample(position)
        self.dataset.update_summary()
        self.ctx.status(f"{sample_id}: pseudo-label {verdict}")
        self.refresh()
