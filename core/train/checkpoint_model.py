"""Running a training checkpoint on whole images, as evaluate, suggest and pseudo-label need it.

The checkpoint's own metadata (input policy, pre-processing, normalisation, classes) decides how an
image reaches the network, so a model is never run with settings it was not trained with.
Probabilities come back at the image's original resolution.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.infer.backends import TorchBackend
from core.infer.predictor import SegmentationPredictor
from core.models.checkpoint import load_checkpoint
from core.models.describe import inference_meta
from core.preprocess import to_network_size


class CheckpointModel:
    """A loaded checkpoint run through the same SegmentationPredictor the app uses, so evaluation,
    suggestions and pseudo-labels see exactly what a user sees (pre-processing, resize or sliding
    window, normalisation) — only the backend differs from the exported model."""

    def __init__(self, path: str | Path, device: str | torch.device = "cpu"):
        self.model, self.meta = load_checkpoint(path)
        self.path = Path(path)
        self.model.to(torch.device(device)).eval()
        self.predictor = SegmentationPredictor(TorchBackend(self.model, inference_meta(self.meta)))
        self.channels = int(self.meta["model"].get("out_channels", 1))

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) the network sees: the resize size, or the sliding window."""
        h, w = self.predictor.policy["size"]
        return int(h), int(w)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def preprocess(self, image: np.ndarray) -> torch.Tensor:
        """The normalised image at the network's input size, (1, C, H, W) on the model's device."""
        x = self.predictor.preprocess(image)[0]
        small = to_network_size(x, self.size)
        return torch.from_numpy(np.ascontiguousarray(small, dtype=np.float32))[None, None].to(self.device)

    @property
    def binary(self) -> bool:
        return self.channels == 1

    def class_values(self) -> list[int]:
        """Label-map value written for each channel index (index 0 = background)."""
        classes = self.meta.get("classes", [])
        values = {int(c["id"]): int(c.get("value", c["id"])) for c in classes if "id" in c}
        count = 2 if self.binary else self.channels
        return [values.get(i, i) for i in range(count)]

    def probabilities(self, image: np.ndarray, tta: bool = False) -> np.ndarray:
        """(C, H, W) float32 at the image's size: sigmoid for 1 channel, softmax otherwise."""
        return self.predictor.probabilities(image, tta=tta)

    def flip_disagreement(self, image: np.ndarray) -> float:
        """Test-time-augmentation disagreement: mean |p(x) - flip(p(flip(x)))| (FDI sides swapped back)."""
        return self.predictor.flip_disagreement(image)

    def labels(self, probs: np.ndarray) -> np.ndarray:
        """Class-index map (0 = background) from probabilities, at the model's own threshold."""
        if self.binary:
            return (probs[0] > self.predictor.threshold).astype(np.uint8)
        return probs.argmax(0).astype(np.uint8)


def describe(meta: dict[str, Any]) -> str:
    model = meta.get("model", {})
    return f"{model.get('name')} ({meta.get('mode', '?')}, {meta.get('labels', '?')}, input {meta.get('input_size')})"
