"""Model library controller: list the project's models, set one active, export ONNX, delete, reveal the
folder and show a past run's curves. Every change clears the predictor cache."""

from __future__ import annotations

from PySide6 import QtCore, QtGui

from app.controllers.context import HitlContext
from app.panels.models import ModelsPanel
from core.errors import ToothSegError
from core.hitl import library
from core.hitl.cross_validation import quality_text
from core.hitl.model_files import model_path


class ModelLibraryController(QtCore.QObject):
    changed = QtCore.Signal(list)   # the library's rows after a refresh (the evaluation's model lists follow)

    def __init__(self, ctx: HitlContext, panel: ModelsPanel):
        super().__init__(panel)
        self.ctx, self.panel = ctx, panel
        panel.activate_requested.connect(self.set_active)
        panel.export_requested.connect(self.export)
        panel.delete_requested.connect(self.delete)
        panel.reveal_requested.connect(self.reveal)
        panel.selection_changed.connect(self.show_curves)

    def refresh(self) -> None:
        project = self.ctx.session.project if self.ctx.session else None
        rows = library.rows(project) if project else []
        self.panel.set_rows(rows)
        self.changed.emit(rows)
        active = next((r for r in rows if r["active"]), None)
        if active:
            self.panel.show_info(f"Active: {active['name']} - {quality_text(active['metrics'])}")

    def show_curves(self, name: str) -> None:
        """The selected model's training curves, read back from the metrics.csv beside its checkpoint."""
        from core.train.metrics_log import run_metrics, val_trained

        project = self.ctx.session.project if self.ctx.session else None
        m = project.model(name) if project and name else None
        rows = run_metrics(model_path(project, m) or model_path(project, m, onnx=True)) if m else []
        self.panel.show_curves(name if m else "", rows, not (m and val_trained(model_path(project, m))))

    def set_active(self, name: str) -> None:
        project = self.ctx.project()
        if project is not None:
            try:
                library.set_active(project, name)  # refuses a model whose metadata fails the schema
            except ToothSegError as exc:
                self.ctx.failed("Set active model", exc)
                return
            self.ctx.predictors.clear()
            self.refresh()
            self.ctx.status(f"{name} is the active model")

    def export(self, name: str, int8: bool) -> None:
        project = self.ctx.project()
        if project is None:
            return
        ckpt = model_path(project, library.entry(project, name))

        def done(report: dict) -> None:
            library.record_export(project, name, report)
            self.ctx.predictors.clear()
            text = f"{name}: ONNX parity {report['max_abs_diff']:.1e} on {report['parity_images']} images"
            if "dice_drop" in report:
                text += f"; int8 Dice {report['dice_int8']:.3f} vs fp32 {report['dice_fp32']:.3f}"
            elif "dice_int8_vs_fp32" in report:
                text += f"; int8 agrees with fp32 at Dice {report['dice_int8_vs_fp32']:.3f}"
            self.refresh()
            self.panel.show_info(text)
            self.ctx.status(text)

        self.ctx.run("Export ONNX", library.export_model, project, ckpt, int8, on_done=done)

    def delete(self, name: str) -> None:
        project = self.ctx.project()
        if project is not None and self.ctx.ask(f"Delete model {name} and its files?"):
            library.delete(project, name)
            self.ctx.predictors.clear()
            self.refresh()

    def reveal(self, name: str) -> None:
        project = self.ctx.project()
        if project is not None:
            path = model_path(project, library.entry(project, name))
            QtGui.QDesktopServices.openUrl(QtCore.QUrl.fromLocalFile(str(path.parent)))
