"""Prediction controller: run a model on the image in the editor (in a worker, coloured there too); the
canvas follows the session's predictions of the image shown, whoever set them (``AnnotationSession``
listeners); the flip test-time augmentation switch that every later prediction follows."""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtCore

from app import preferences
from app.controllers.context import HitlContext
from core.annotation import display
from core.hitl import library


def read_image_file(path):
    from core.data.io import read_image

    return read_image(path)


class PredictionController(QtCore.QObject):
    details_ready = QtCore.Signal(str, object, object)   # sample id, Prediction, class values (instance scores)

    def __init__(self, ctx: HitlContext, canvas):
        super().__init__(canvas)
        self.ctx, self.canvas = ctx, canvas
        self._layers = None          # colours made in the worker for the prediction being set
        self._unsubscribe = None

    def follow(self, session) -> None:
        """Listen to ``session`` (the folder now open) instead of the previous one."""
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._unsubscribe = None if session is None else session.subscribe(
            lambda change, sample_id: self._session_changed(session, change, sample_id))

    def _session_changed(self, session, change: str, sample_id: str) -> None:
        """A prediction of the image in the editor was set or dropped: the canvas shows it."""
        layers, self._layers = self._layers, None
        if change != "prediction" or session is not self.ctx.session or session.sample is None \
                or session.sample.id != sample_id:
            return
        self.canvas.set_prediction(session.predictions.get(sample_id), layers)

    def active_onnx(self):
        """The active model's ONNX file, or None after saying why nothing can be predicted."""
        project = self.ctx.project()
        if project is None:
            return None
        onnx = library.active_onnx(project)
        if onnx is None:
            self.ctx.error("Predict", "No active model with an ONNX file; train or export one first.")
        return onnx

    def predict_current(self) -> None:
        onnx = self.active_onnx()
        s = self.ctx.session
        if onnx is None or s.sample is None:
            return
        sample, lut = s.sample, self.canvas.lut
        labels = s.editor.labels if s.editor is not None else None
        predictors = self.ctx.predictors

        def predict_and_colour():   # the colouring of a 2943x1435 result takes as long as a frame or ten
            p = predictors.get(onnx).predict(read_image_file(sample.image))
            return p, display.prediction_layers(p.mask, lut, labels)

        self.ctx.run("Predict", predict_and_colour,
                     on_done=lambda r: self.show(sample.id, r[0].mask, onnx, r[0], r[1]))

    def predict_with(self, sample_id: str, model: Path) -> None:
        """Run ``model`` on ``sample_id`` and show its prediction (the evaluation's error view)."""
        sample = self.ctx.session.index[sample_id]
        predictors = self.ctx.predictors
        self.ctx.run("Predict", lambda: predictors.get(model).predict(read_image_file(sample.image)),
                     on_done=lambda p: self.show(sample_id, p.mask, model))

    def show(self, sample_id: str, mask, model: Path, prediction=None, layers=None) -> None:
        predictor = self.ctx.predictors.loaded(model)
        if prediction is not None and predictor is not None:
            values = predictor.class_values.tolist() if predictor.class_values is not None else None
            self.details_ready.emit(sample_id, prediction, values)
        self._layers = layers
        self.ctx.session.set_prediction(sample_id, mask)     # the canvas follows (``_session_changed``)
        provider = predictor.provider if predictor is not None else ""
        self.ctx.status(f"Predicted {sample_id} with {model.parent.name} on {provider}")

    def set_tta(self, on: bool) -> None:
        """Flip test-time augmentation for every later prediction and evaluation (remembered)."""
        self.ctx.predictors.tta = bool(on)
        self.ctx.predictors.clear()
        preferences.put("flip_tta", bool(on))
        self.ctx.status("Flip test-time augmentation " + ("on: predictions average each image with its mirror image"
                                                          if on else "off"))
