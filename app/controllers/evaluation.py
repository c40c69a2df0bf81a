"""Evaluation controller: per-image Dice / IoU of one or two models on a split (``core.train.evaluate``,
in a worker), and a clicked row opened with the model's prediction and the error overlay."""

from __future__ import annotations

from PySide6 import QtCore

from app.controllers.context import HitlContext
from app.controllers.prediction import PredictionController
from app.panels.evaluation import EvaluationPanel
from core.data.origins import origin_counts
from core.hitl import library
from core.hitl.model_files import model_path
from core.hitl.split_policy import split_counts


class EvaluationController(QtCore.QObject):
    def __init__(self, ctx: HitlContext, panel: EvaluationPanel, prediction: PredictionController, show_errors):
        """``show_errors()`` turns the error overlay on (the layers panel)."""
        super().__init__(panel)
        self.ctx, self.panel, self.prediction, self.show_errors = ctx, panel, prediction, show_errors
        panel.run_requested.connect(self.evaluate)
        panel.open_requested.connect(self.open_with_errors)

    def models_changed(self, rows: list[dict]) -> None:
        """The library changed: the model lists and each split's counts follow."""
        s = self.ctx.session
        names = [r["name"] for r in rows if r["mode"] in ("finetune", "mean-teacher", "pseudo-label")]
        self.panel.set_models(names, s.project.active_model if s else "")
        if s is not None:
            self.panel.set_split_counts(split_counts(s.index), origin_counts(s.index))

    def evaluate(self, a: str, b: str, split: str) -> None:
        project = self.ctx.project()
        if project is None or not a or not self.ctx.torch:
            return
        from core.train.evaluate import evaluate

        paths = [model_path(project, library.entry(project, n)) for n in (a, b) if n]
        root, tta = self.ctx.session.root, self.ctx.predictors.tta

        def both(progress=None, cancel=None):
            reports = [evaluate(p, root, split=split, cancel=cancel, tta=tta) for p in paths]
            return reports + [None] * (2 - len(reports))

        self.ctx.run("Evaluate", both, on_done=lambda r: self.panel.show_reports(r[0], r[1], (a, b)))

    def open_with_errors(self, sample_id: str, model: str) -> None:
        project = self.ctx.project()
        if project is None or not self.ctx.open_sample(sample_id):
            return
        entry = library.entry(project, model)
        onnx = model_path(project, entry, onnx=True) or model_path(project, entry)
        self.show_errors()
        self.prediction.predict_with(sample_id, onnx)
