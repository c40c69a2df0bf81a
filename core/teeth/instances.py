"""Numbered teeth from the network's activated outputs, torch-free: seeds from the tooth cores grown
over the teeth (``core.teeth.separate``), an FDI number per tooth along each jaw
(``core.teeth.numbering``) and a score per tooth (teeth probability times the vote for its number).

Every path that runs a teeth model ends here: ``core.teeth.predictor`` (PyTorch) and the inference
contract's teeth branch (``core.infer.teeth``, ONNX Runtime in the app, ``toothseg predict`` and
evaluation), so one model gives one set of instances whoever runs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import cv2
import numpy as np

from core.interop.instances import Instance
from core.teeth.numbering import ToothVote, number_teeth
from core.teeth.separate import separate_teeth
from core.teeth.targets import CORE, FG, POSITION, QUADRANT, position_index, quadrant_index

# Seeds are cores above this probability: 0.5 merges neighbours whose cores the network blurs
# together; 0.9 was best on 64 training panoramics (mAP@.5 0.68 at 0.8, 0.76 at 0.9, 0.75 at 0.95)
CORE_THRESHOLD = 0.9
MIN_AREA = 40
MIN_SCORE = 0.0


@dataclass
class TeethPrediction:
    """``mask``: FDI label map at the input size; ``instances``: numbered teeth with scores."""

    mask: np.ndarray
    instances: list[Instance]
    probabilities: np.ndarray            # (1, H, W) teeth probability, for callers that want a map
    tiles: int = 1
    working: tuple[int, int] = (0, 0)
    details: dict = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def labels(self) -> np.ndarray:
        """The label map before any rule (the same as ``mask``: teeth have no component rules)."""
        return self.mask

    @cached_property
    def logits(self) -> np.ndarray:
        """(1, H, W) teeth logit (for callers of the plain ``Prediction`` shape)."""
        p = np.clip(self.probabilities, 1e-6, 1 - 1e-6)
        return np.log(p / (1 - p)).astype(np.float32)


def numbered_teeth(out: np.ndarray, shape: tuple[int, int], allowed: list[int], min_area: int = MIN_AREA,
                   min_score: float = MIN_SCORE, core_threshold: float = CORE_THRESHOLD) -> TeethPrediction:
    """Teeth of an image of ``shape`` (H, W) from activated outputs (19, h, w) at the working size;
    teeth scoring under ``min_score`` are left out of the mask and the list."""
    h, w = out.shape[1:]
    lab = separate_teeth(out[FG], out[CORE], min_area=min_area, core_threshold=core_threshold)
    n = int(lab.max())
    flat = lab.ravel()
    counts = np.maximum(np.bincount(flat, minlength=n + 1).astype(np.float64), 1)
    sums = [np.bincount(flat, weights=out[c].ravel(), minlength=n + 1) for c in range(out.shape[0])]
    mean = np.stack(sums, 1) / counts[:, None]        # (n+1, 19)
    ys, xs = np.indices((h, w))
    cx = np.bincount(flat, weights=xs.ravel(), minlength=n + 1) / counts
    cy = np.bincount(flat, weights=ys.ravel(), minlength=n + 1) / counts
    votes = [ToothVote(float(cx[k]), float(cy[k]), mean[k, QUADRANT], mean[k, POSITION]) for k in range(1, n + 1)]
    numbers = number_teeth(votes, allowed)
    H, W = shape
    full = lab if (h, w) == (H, W) else cv2.resize(lab.astype(np.float32), (W, H),
                                                    interpolation=cv2.INTER_NEAREST).astype(np.int32)
    label_map = np.zeros((H, W), np.uint8)
    instances = []
    boxes = _boxes(lab, n, (H, W))
    for k, (vote, value) in enumerate(zip(votes, numbers, strict=True), start=1):
        y0, y1, x0, x1 = boxes[k]
        sub = full[y0:y1, x0:x1] == k      # a tooth's pixels lie in its working-size box, scaled (+2 px)
        area = int(sub.sum())
        if area == 0:
            continue
        ys_, xs_ = np.nonzero(sub)
        bbox = (x0 + int(xs_.min()), y0 + int(ys_.min()), int(xs_.max() - xs_.min() + 1), int(ys_.max() - ys_.min() + 1))
        mask = np.zeros((H, W), bool)
        mask[y0:y1, x0:x1] = sub
        sure = float(np.sqrt(vote.quadrant[quadrant_index(value)] * vote.position[position_index(value)]))
        score = float(mean[k, FG]) * sure
        if score < min_score:
            continue
        instances.append(Instance(int(value), mask, area, bbox, score))
        label_map[mask] = value
    prob = out[FG] if (h, w) == (H, W) else cv2.resize(out[FG], (W, H), interpolation=cv2.INTER_LINEAR)
    return TeethPrediction(label_map, instances, prob[None], working=(h, w))


def _boxes(lab: np.ndarray, n: int, shape: tuple[int, int]) -> np.ndarray:
    """(n + 1, 4) rows y0, y1, x0, x1 at ``shape`` that hold every pixel of label k after a nearest-
    neighbour resize of ``lab`` (one pass over the small map; a full-size search per tooth cost 0.8 CPU-s
    on a 2943 x 1435 panoramic)."""
    h, w = lab.shape
    H, W = shape
    boxes = np.zeros((n + 1, 4), np.int64)
    ys, xs = np.nonzero(lab)
    if ys.size == 0:
        return boxes
    k = lab[ys, xs]
    y0 = np.full(n + 1, h)
    x0 = np.full(n + 1, w)
    y1 = np.full(n + 1, -1)
    x1 = np.full(n + 1, -1)
    np.minimum.at(y0, k, ys)
    np.minimum.at(x0, k, xs)
    np.maximum.at(y1, k, ys)
    np.maximum.at(x1, k, xs)
    sy, sx = H / h, W / w
    boxes[:, 0] = np.clip(np.floor(y0 * sy) - 2, 0, H)
    boxes[:, 1] = np.clip(np.ceil((y1 + 1) * sy) + 2, 0, H)
    boxes[:, 2] = np.clip(np.floor(x0 * sx) - 2, 0, W)
    boxes[:, 3] = np.clip(np.ceil((x1 + 1) * sx) + 2, 0, W)
    return boxes
