"""Overlay model: a second model's output (e.g. caries) drawn in its own layer above the teeth.

"Show as overlay" in the Models panel runs that model (ONNX Runtime, in a worker, tiled as its
metadata says) on the image in the editor and paints its label map with the model's own class
names and colours. The overlay follows image switches; results of the last few images are kept.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from pathlib import Path

import numpy as np
from PySide6 import QtCore

from app.controllers.context import EditorContext
from app.workers import run_job
from core.annotation.instance_list import overlay_rgba

log = logging.getLogger("toothseg.app.overlay")
KEEP = 4   # label maps of this many images stay cached (a panoramic's map is 4 MB)


def predict_overlay(model: Path, image_path: Path, predictor=None) -> dict:
    """Run ``model`` on one image file (worker side): its label map, classes and the predictor used."""
    from core.data.io import read_image
    from core.infer.predictor import load_predictor

    predictor = predictor or load_predictor(model)
    prediction = predictor.predict(read_image(image_path))
    return {"labels": prediction.mask, "classes": predictor.meta["classes"], "predictor": predictor,
            "provider": predictor.provider}


class OverlayController(QtCore.QObject):
    def __init__(self, ctx: EditorContext, models):
        """``models`` is the Models panel whose "Show as overlay" / "Clear overlay" this follows."""
        super().__init__(ctx.parent)
        self.ctx = ctx
        self.model: Path | None = None
        self.name = ""
        self.classes: list[dict] = []
        self.labels: np.ndarray | None = None       # the overlay's label map for ``sample_id``
        self.sample_id = ""
        self._predictor = None
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._model_key = 0
        self.job = None
        ctx.image_shown.connect(lambda _p: self.follow())
        models.overlay_requested.connect(self.show_model_named)
        models.overlay_clear_requested.connect(self.clear)

    def show_model_named(self, name: str) -> None:
        """The project's model ``name`` becomes the overlay (it needs an ONNX export)."""
        from core.hitl import library
        from core.hitl.model_files import model_path

        s = self.ctx.session
        if s is None:
            return
        try:
            onnx = model_path(s.project, library.entry(s.project, name), onnx=True)
            if onnx is not None and onnx.is_file():
                library.check_model(s.project, name)  # metadata and graph checked before anything runs
        except Exception as exc:
            self.ctx.failed("Overlay model", exc)
            return
        if onnx is None or not onnx.is_file():
            self.ctx.error("Overlay model", f"Model {name} has no ONNX file yet: press Export ONNX first.")
            return
        self.show_model(onnx, name)

    def show_model(self, model: str | Path, name: str = "") -> None:
        """Show ``model`` (an exported .onnx) as the overlay of every image from now on."""
        self.model, self.name = Path(model), name or Path(model).parent.name
        self._predictor, self.classes = None, []
        self._cache.clear()
        self._model_key += 1
        self.ctx.layers.set_layer_checked("overlay", True)
        self.ctx.layers.name_overlay(self.name)
        self.follow()

    def clear(self) -> None:
        self.model, self.name, self._predictor, self.labels, self.sample_id = None, "", None, None, ""
        self._cache.clear()
        self._model_key += 1
        self.ctx.canvas.set_overlay(None)
        self.ctx.layers.name_overlay()
        self.ctx.message("Overlay cleared")

    def follow(self) -> None:
        """Show the overlay of the image now in the editor, predicting it if it is not cached."""
        s = self.ctx.session
        self.ctx.canvas.set_overlay(None)        # never leave the previous image's overlay on this one
        self.labels, self.sample_id = None, ""
        if self.model is None or s is None or s.sample is None:
            return
        sample = s.sample
        if sample.id in self._cache:
            self._paint(sample.id, self._cache[sample.id])
            return
        key = self._model_key
        self.ctx.message(f"Overlay: running {self.name} on {sample.id} ...")
        self.job = run_job(self.ctx.parent, "Overlay model", predict_overlay, self.model, sample.image,
                           self._predictor, progress_dialog=False,
                           on_done=lambda r: self._predicted(key, sample.id, r), on_failed=lambda: self._failed(key))

    def _failed(self, key: int) -> None:
        """A model that fails (its message is already shown) stops being the overlay, so the next image
        does not show the same error again."""
        if key == self._model_key and self._predictor is None:
            self.clear()

    def _predicted(self, key: int, sample_id: str, result: dict) -> None:
        if key != self._model_key:
            return                                   # the overlay model changed meanwhile
        self._predictor, self.classes = result["predictor"], result["classes"]
        self._cache[sample_id] = result["labels"]
        while len(self._cache) > KEEP:
            self._cache.popitem(last=False)
        s = self.ctx.session
        if s is not None and s.sample is not None and s.sample.id == sample_id:
            self._paint(sample_id, result["labels"])
            names = ", ".join(c["name"] for c in self.classes if int(c.get("value", c["id"])) > 0)
            found = int((result["labels"] > 0).sum())
            self.ctx.message(f"Overlay {self.name} ({names}) on {result['provider']}: {found} px")

    def _paint(self, sample_id: str, labels: np.ndarray) -> None:
        s = self.ctx.session
        if s is None or s.editor is None or labels.shape != s.editor.shape:
            self.ctx.error("Overlay model", f"{self.name} returned a {labels.shape} map for a "
                           f"{s.editor.shape if s and s.editor else '?'} image; overlay not shown")
            return
        self.labels, self.sample_id = labels, sample_id
        self.ctx.canvas.set_overlay(overlay_rgba(labels, self.classes))
