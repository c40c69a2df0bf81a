"""Numbered teeth from a panoramic: the two-stage network over a sliding window, then separation
(``core.teeth.separate``) and numbering along the arch (``core.teeth.numbering``).

The network learnt teeth at the UFBA-425 scale (panoramics squashed to 512 x 512, a tooth about 13 px
wide). A larger panoramic is first resized to that scale (``core.teeth.scale``), then covered by
overlapping 512 px windows blended with Gaussian weights (``core.infer.sliding``), so tile borders
leave no seams; the coordinate channels always span the whole panoramic, never a tile.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from core.data.classes import FDI_NUMBERS
from core.infer.sliding import sliding_forward, tile_starts
from core.interop.instances import Instance
from core.models.registry import build_model
from core.preprocess import to_network_size
from core.teeth.numbering import ToothVote, number_teeth
from core.teeth.recipe import network_input
from core.teeth.scale import working_size
from core.teeth.separate import separate_teeth
from core.teeth.targets import CORE, FG, POSITION, QUADRANT
from core.train.speed import cpu_bf16

WINDOW = 512
# Seeds are cores above this probability: 0.5 merges neighbours whose cores the network blurs
# together; 0.9 was best on 64 training panoramics (mAP@.5 0.68 at 0.8, 0.76 at 0.9, 0.75 at 0.95)
CORE_THRESHOLD = 0.9
MIN_SCORE = 0.0
# output channels of a mirrored panoramic in the original's order: quadrant sides 1 <-> 2 and 3 <-> 4
SIDES_SWAPPED = [0, 1, 3, 2, 5, 4, *range(6, 19)]


def is_teeth_checkpoint(path: str | Path) -> bool:
    """True for a snapshot of ``core.teeth.recipe`` (a ``.pt`` file of kind teeth-instances)."""
    p = Path(path)
    if p.suffix != ".pt" or not p.is_file():
        return False
    try:
        return torch.load(str(p), map_location="cpu", weights_only=False).get("kind") == "teeth-instances"
    except Exception:  # noqa: BLE001 - anything unreadable is simply not a teeth checkpoint
        return False


@dataclass
class TeethPrediction:
    """``mask``: FDI label map at the input size; ``instances``: numbered teeth with scores."""

    mask: np.ndarray
    instances: list[Instance]
    probabilities: np.ndarray            # (1, H, W) teeth probability, for callers that want a map
    tiles: int = 1
    working: tuple[int, int] = (0, 0)
    details: dict = field(default_factory=dict)


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

    def _logits(self, gray: np.ndarray, window: int) -> tuple[np.ndarray, int]:
        h, w = gray.shape
        x = network_input(gray)
        ph, pw = -h % 32, -w % 32
        if ph or pw:
            x = np.pad(x, ((0, 0), (0, ph), (0, pw)), mode="edge")
        if max(x.shape[1:]) <= window + 128:
            return self._forward(x[None])[0][:, :h, :w], 1
        tiles = len(tile_starts(x.shape[1], window, 0.25)) * len(tile_starts(x.shape[2], window, 0.25))
        return sliding_forward(self._forward, x, (window, window), overlap=0.25, batch_size=2)[:, :h, :w], tiles

    def outputs(self, image: np.ndarray, window: int = WINDOW) -> tuple[np.ndarray, int]:
        """(19, h, w) network outputs at the working size (sigmoid / softmax applied), tile count;
        canvases wider or taller than ``window`` + 128 px go through the sliding window. With ``tta``
        the mirrored panoramic's logits, mirrored back with the sides swapped, are averaged in."""
        gray = image if image.ndim == 2 else image[..., :3].mean(-1)
        h, w = working_size(*gray.shape)
        gray = to_network_size(gray, (h, w))   # the one resize (core.preprocess), as training's
        logits, tiles = self._logits(gray, window)
        if self.tta:
            back = self._logits(np.ascontiguousarray(gray[:, ::-1]), window)[0][:, :, ::-1]
            logits = (logits + back[SIDES_SWAPPED]) * np.float32(0.5)
        out = np.empty_like(logits)
        out[FG] = 1 / (1 + np.exp(-logits[FG]))
        out[CORE] = 1 / (1 + np.exp(-logits[CORE]))
        for sl in (QUADRANT, POSITION):
            z = logits[sl] - logits[sl].max(0, keepdims=True)
            e = np.exp(z)
            out[sl] = e / e.sum(0, keepdims=True)
        return out, tiles

    def predict(self, image: np.ndarray, min_area: int = 40, min_score: float | None = None) -> TeethPrediction:
        """Numbered teeth of ``image``; teeth scoring under ``min_score`` (default ``MIN_SCORE``) are
        left out of the mask and the list."""
        min_score = MIN_SCORE if min_score is None else min_score
        out, tiles = self.outputs(image)
        h, w = out.shape[1:]
        lab = separate_teeth(out[FG], out[CORE], min_area=min_area, core_threshold=CORE_THRESHOLD)
        n = int(lab.max())
        votes, fg_scores = [], []
        flat = lab.ravel()
        counts = np.bincount(flat, minlength=n + 1).astype(np.float64)
        sums = [np.bincount(flat, weights=out[c].ravel(), minlength=n + 1) for c in range(out.shape[0])]
        mean = np.stack(sums, 1) / np.maximum(counts, 1)[:, None]        # (n+1, 19)
        ys, xs = np.indices((h, w))
        cx = np.bincount(flat, weights=xs.ravel(), minlength=n + 1) / np.maximum(counts, 1)
        cy = np.bincount(flat, weights=ys.ravel(), minlength=n + 1) / np.maximum(counts, 1)
        for k in range(1, n + 1):
            votes.append(ToothVote(float(cx[k]), float(cy[k]), mean[k, QUADRANT], mean[k, POSITION]))
            fg_scores.append(float(mean[k, FG]))
        numbers = number_teeth(votes, self.allowed)
        from core.teeth.targets import position_index, quadrant_index
        H, W = image.shape[:2]
        full = lab if (h, w) == (H, W) else cv2.resize(lab.astype(np.float32), (W, H),
                                                        interpolation=cv2.INTER_NEAREST).astype(np.int32)
        label_map = np.zeros((H, W), np.uint8)
        instances = []
        for k, (vote, value, fg) in enumerate(zip(votes, numbers, fg_scores, strict=True), start=1):
            mask = full == k
            area = int(mask.sum())
            if area == 0:
                continue
            ys_, xs_ = np.nonzero(mask)
            bbox = (int(xs_.min()), int(ys_.min()), int(xs_.max() - xs_.min() + 1), int(ys_.max() - ys_.min() + 1))
            sure = float(np.sqrt(vote.quadrant[quadrant_index(value)] * vote.position[position_index(value)]))
            if fg * sure < min_score:
                continue
            instances.append(Instance(int(value), mask, area, bbox, fg * sure))
            label_map[mask] = value
        prob = out[FG] if (h, w) == (H, W) else cv2.resize(out[FG], (W, H), interpolation=cv2.INTER_LINEAR)
        return TeethPrediction(label_map, instances, prob[None], tiles, (h, w))
