"""Saliency controller: the active model's gradient saliency on the image in the editor, as a heat layer
above the canvas (``core.hitl.saliency``, in a worker); cleared when another image is shown."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6 import QtCore, QtGui

from app.controllers.context import HitlContext
from core.hitl import library


class SaliencyController(QtCore.QObject):
    def __init__(self, ctx: HitlContext, canvas, action: QtGui.QAction):
        super().__init__(action)
        self.ctx, self.action = ctx, action
        self.layer = pg.ImageItem(axisOrder="row-major")
        self.layer.setZValue(15)
        self.layer.setVisible(False)
        canvas.vb.addItem(self.layer, ignoreBounds=True)

    def toggle(self) -> None:
        on = self.action.isChecked()
        project = self.ctx.project()
        ckpt = library.active_checkpoint(project) if project else None
        if not on or ckpt is None or self.ctx.session.sample is None:
            self.clear()
            if on and ckpt is None:
                self.ctx.status("Saliency needs an active model")
            return
        from core.hitl.saliency import gradient_saliency, heat_rgba

        image = self.ctx.session.editor.image
        self.ctx.run("Saliency", lambda: heat_rgba(gradient_saliency(ckpt, image)), on_done=self._show)

    def _show(self, rgba) -> None:
        self.layer.setImage(rgba, levels=(0, 255))
        self.layer.setRect(QtCore.QRectF(0, 0, rgba.shape[1], rgba.shape[0]))
        self.layer.setVisible(True)
        self.ctx.status("Saliency: brighter = the prediction depends more on these pixels")

    def clear(self) -> None:
        self.layer.setVisible(False)
        self.action.setChecked(False)
