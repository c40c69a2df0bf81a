"""Label next controller: rank the unlabeled images (``core.train.suggest``, in a worker) by the method
the panel names; model uncertainty needs an active model and says so."""

from __future__ import annotations

from PySide6 import QtCore

from app.controllers.context import HitlContext
from app.panels.label_next import LabelNextPanel
from core.hitl import library


class LabelNextController(QtCore.QObject):
    def __init__(self, ctx: HitlContext, panel: LabelNextPanel):
        super().__init__(panel)
        self.ctx, self.panel = ctx, panel
        panel.refresh_requested.connect(self.rank)
        panel.open_requested.connect(ctx.open_sample)

    def rank(self) -> None:
        project = self.ctx.project()
        if project is None or not self.ctx.torch:
            return
        from core.train.suggest import suggest

        method = self.panel.chosen_method()
        ckpt = library.active_checkpoint(project) if method in (None, "entropy", "tta") else None
        if method in ("entropy", "tta") and ckpt is None:
            self.ctx.error("Label next", "Ranking by model uncertainty needs an active model: "
                           "train one (Train on my labels) or set one active in the model library.")
            return
        self.ctx.run("Label next", suggest, self.ctx.session.root, model_path=ckpt, top=25, method=method,
                     on_done=self.panel.set_ranking)
