"""Numbered teeth from a panoramic with the PyTorch snapshot of ``core.teeth.recipe``: the network over
the working-scale canvas (``core.teeth.network_io``: one pass or blended sliding windows), then
separation and numbering (``core.teeth.instances``, the same code the ONNX path of the inference
contract runs, ``core.infer.teeth``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from core.data.classes import FDI_NUMBERS
from core.models.registry import build_model
from core.teeth.instances import CORE_THRESHOLD, MIN_SCORE, TeethPrediction, numbered_teeth
from core.teeth.network_io import SIDES_SWAPPED, WINDOW, teeth_outputs
from core.train.speed import cpu_bf16

__all__ = ["CORE_THRESHOLD", "MIN_SCORE", "SIDES_SWAPPED", "WINDOW", "TeethPrediction", "TeethPredictor",
           "is_teeth_checkpoint"]


def is_teeth_checkpoint(path: str | Path) -> bool:
    """True for a snapshot of ``core.teeth.recipe`` (a ``.pt`` file of kind teeth-instances)."""
    p = Path(path)
    if p.suffix != ".pt" or not p.is_file():
        return False
    try:
        return torch.load(str(p), map_location="cpu", weights_only=False).get("kind") == "teeth-instances"
    except Exception:  # noqa: BLE001 - anything unreadable is simply not a teeth checkpoint
        return False


class TeethPredictor:
    def __init__(self, checkpoint: str | Path, allowed: list[int] | None = None, threads: int | None = None,
                 bf16: bool = True, tta: bool = False):
        ck = torch.load(str(checkpoint), map_location="cpu", weights_only=False)
        self.model = build_model(ck["config"]).eval()
        self.model.load_state_dict(ck["state"])
        self.info = ck.get("info", {})
        self.tta = tta
        self.fast = bf16 and cpu_bf16()          # as in training: bf16 + channels_last where oneDNN has it
        if self.fast:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.allowed = list(allowed or FDI_NUMBERS)
        if threads:
            torch.set_num_threads(threads)
        self.meta = {"classes": [{"value": 0}] + [{"value": v} for v in self.allowed]}

    @torch.no_grad()
    def _forward(self, tiles: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(tiles))
        if self.fast:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.fast):
            return self.model(x).float().numpy()

    def outputs(self, image: np.ndarray, window: int = WINDOW) -> tuple[np.ndarray, int]:
        """(19, h, w) network outputs at the working size (sigmoid / softmax applied), tile count;
        canvases wider or taller than ``window`` + 128 px go through the sliding window. With ``tta``
        the mirrored panoramic's logits, mirrored back with the sides swapped, are averaged in."""
        return teeth_outputs(self._forward, image, window, self.tta)

    def predict(self, image: np.ndarray, min_area: int = 40, min_score: float | None = None) -> TeethPrediction:
        """Numbered teeth of ``image``; teeth scoring under ``min_score`` (default ``MIN_SCORE``) are
        left out of the mask and the list."""
        out, tiles = self.outputs(image)
        pred = numbered_teeth(out, image.shape[:2], self.allowed, min_area,
                              MIN_SCORE if min_score is None else min_score, CORE_THRESHOLD)
        pred.tiles = tiles
        return pred
