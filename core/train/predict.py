"""Running a training checkpoint on whole images, as evaluate, suggest and pseudo-label need it.

The checkpoint's own metadata (input size, normalisation, classes) decides pre-processing, so a
model is never run with settings it was not trained with. Probabilities come back at the
image's original resolution.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from core.data.io import to_unit_float
from core.models.checkpoint import load_checkpoint
from core.train.transforms import bilateral


class CheckpointModel:
    """A loaded checkpoint plus the pre/post-processing its metadata prescribes."""

    def __init__(self, path: str | Path, device: str | torch.device = "cpu"):
        self.model, self.meta = load_checkpoint(path)
        self.path = Path(path)
        self.device = torch.device(device)
        self.model.to(self.device).eval()
        h, w = self.meta.get("input_size", [256, 256])
        self.size = (int(h), int(w))
        norm = self.meta.get("normalization", {})
        self.mean, self.std = float(norm.get("mean", 0.5)), float(norm.get("std", 0.25))
        self.channels = int(self.meta["model"].get("out_channels", 1))
        self.bilateral = bool(self.meta.get("recipe", {}).get("bilateral", False))

    @property
    def binary(self) -> bool:
        return self.channels == 1

    def class_values(self) -> list[int]:
        """Label-map value written for each channel index (index 0 = background)."""
        classes = self.meta.get("classes", [])
        values = {int(c["id"]): int(c.get("value", c["id"])) for c in classes if "id" in c}
        count = 2 if self.binary else self.channels
        return [values.get(i, i) for i in range(count)]

    def preprocess(self, image: np.ndarray) -> torch.Tensor:
        img = to_unit_float(image)
        if self.bilateral:
            img = bilateral(img)
        small = cv2.resize(img, (self.size[1], self.size[0]), interpolation=cv2.INTER_AREA)
        return torch.from_numpy((small - self.mean) / self.std).float()[None, None]

    @torch.no_grad()
    def logits(self, batch: torch.Tensor) -> torch.Tensor:
        return self.model(batch.to(self.device)).float().cpu()

    def probabilities(self, image: np.ndarray, tta: bool = False) -> np.ndarray:
        """(C, H, W) float32 at the original size: sigmoid for 1 channel, softmax otherwise."""
        x = self.preprocess(image)
        logits = self.logits(x)
        if tta:
            logits = (logits + torch.flip(self.logits(torch.flip(x, [3])), [3])) / 2
        probs = torch.sigmoid(logits) if self.binary else torch.softmax(logits, 1)
        out = probs[0].numpy()
        h, w = image.shape[:2]
        return np.stack([cv2.resize(c, (w, h), interpolation=cv2.INTER_LINEAR) for c in out]).astype(np.float32)

    def flip_disagreement(self, image: np.ndarray) -> float:
        """Test-time-augmentation disagreement: mean |p(x) - flip(p(flip(x)))|."""
        x = self.preprocess(image)
        a = self._probs(self.logits(x))
        b = torch.flip(self._probs(self.logits(torch.flip(x, [3]))), [3])
        return float((a - b).abs().mean())

    def _probs(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits) if self.binary else torch.softmax(logits, 1)

    def labels(self, probs: np.ndarray, threshold: float = 0.5) -> np.ndarray:
        """Class-index map (0 = background) from probabilities."""
        if self.binary:
            return (probs[0] > threshold).astype(np.uint8)
        return probs.argmax(0).astype(np.uint8)


def describe(meta: dict[str, Any]) -> str:
    model = meta.get("model", {})
    return f"{model.get('name')} ({meta.get('mode', '?')}, {meta.get('labels', '?')}, input {meta.get('input_size')})"
