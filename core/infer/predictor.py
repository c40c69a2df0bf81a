"""Predictor: preprocess -> forward -> postprocess, driven only by the model's own metadata.

Whatever the backend (PyTorch checkpoint or ONNX Runtime), the same code normalises the image,
resizes or tiles it as the metadata says, turns logits into probabilities and a label map, and
applies the post-processing rules, so both backends give the same masks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from core.data.classes import mirror_indices
from core.data.io import to_unit_float
from core.infer.backends import Backend, load_backend
from core.infer.postprocess import mask_stats, postprocess_binary
from core.infer.sliding import sliding_forward
from core.preprocess import apply_preprocess


@dataclass
class Prediction:
    logits: np.ndarray  # (K, H, W) float32 at the image size
    labels: np.ndarray  # (H, W) uint8 label-map values before post-processing
    mask: np.ndarray  # (H, W) uint8 label-map values after post-processing
    stats: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def probabilities(self) -> np.ndarray:
        """(K, H, W) float32: foreground probability (K=1) or class softmax; computed only when asked
        (the softmax of 33 FDI channels costs more than the network itself on a laptop)."""
        if self.logits.shape[0] == 1:
            return (1.0 / (1.0 + np.exp(-self.logits))).astype(np.float32)
        probs = np.asarray(self.logits, dtype=np.float32) - self.logits.max(axis=0, keepdims=True)
        np.exp(probs, out=probs)
        probs /= probs.sum(axis=0, keepdims=True)
        return probs


class Predictor(Protocol):
    meta: dict[str, Any]
    provider: str

    def preprocess(self, image: np.ndarray) -> np.ndarray: ...

    def forward(self, x: np.ndarray) -> np.ndarray: ...

    def postprocess(self, logits: np.ndarray) -> Prediction: ...

    def predict(self, image: np.ndarray) -> Prediction: ...


class SegmentationPredictor:
    """The Predictor for every ToothSeg model, over any Backend."""

    def __init__(self, backend: Backend, batch_size: int = 4, tta: bool = False) -> None:
        self.backend = backend
        self.tta = tta
        self.meta = backend.meta
        self.provider = backend.provider
        self.batch_size = batch_size
        norm = self.meta["normalization"]
        self.mean, self.std = float(norm["mean"]), float(norm["std"])
        self.policy = self.meta["input_policy"]
        self.threshold = float(self.meta["threshold"])
        post = self.meta["postprocess"]
        self.band = tuple(post["band"]) if post.get("band") else None
        self.min_area_frac = float(post.get("min_area_frac", 0.0))
        self.max_components = int(post.get("max_components", 0) or 0)
        self.post_enabled = bool(post.get("enabled", True))
        # label-map value of each output channel (e.g. FDI tooth numbers); "value" when given, else "id"
        values = [int(c.get("value", c["id"])) for c in self.meta["classes"]]
        channels = int(self.meta["architecture"].get("out_channels", 1))
        self.class_values = np.array(values, np.uint8) if len(values) == channels else None
        self.foreground_value = values[1] if channels == 1 and len(values) == 2 else 1
        self.mirror = mirror_indices(values) if channels > 1 and len(values) == channels else None

    def preprocess(self, image: np.ndarray) -> np.ndarray:
        """Grayscale image (any dtype) -> normalised float32 (1, H, W)."""
        if image.ndim != 2:
            raise ValueError(f"expected a 2-D grayscale image, got shape {image.shape}")
        unit = apply_preprocess(to_unit_float(image), self.meta.get("preprocess"))
        return ((unit - self.mean) / self.std)[None].astype(np.float32)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Normalised (C, H, W) -> logits (K, H, W) at the same size, by resize or sliding window; with
        ``tta`` the mean of the image's and its mirror image's logits (twice the time)."""
        logits = self.forward_once(x)
        if self.tta:
            return (logits + self.mirrored_forward(x)) * np.float32(0.5)
        return logits

    def mirrored_forward(self, x: np.ndarray) -> np.ndarray:
        """Logits of the left-right mirrored image, mirrored back (and FDI sides swapped back), so they
        compare pixel by pixel and class by class with ``forward_once(x)``."""
        back = self.forward_once(np.ascontiguousarray(x[:, :, ::-1]))[:, :, ::-1]
        if self.mirror is not None:
            back = back[self.mirror]
        return np.ascontiguousarray(back, dtype=np.float32)

    def forward_once(self, x: np.ndarray) -> np.ndarray:
        _, height, width = x.shape
        size = (int(self.policy["size"][0]), int(self.policy["size"][1]))
        if self.policy["mode"] == "sliding":
            return sliding_forward(self.backend.forward, x, size, float(self.policy.get("overlap", 0.25)),
                                   self.batch_size)
        if (height, width) == size:
            return self.backend.forward(x[None])[0]
        small = cv2.resize(np.moveaxis(x, 0, -1), (size[1], size[0]), interpolation=cv2.INTER_AREA)
        small = small.reshape(size[0], size[1], -1)
        logits = self.backend.forward(np.moveaxis(small, -1, 0)[None])[0]
        back = np.empty((logits.shape[0], height, width), np.float32)  # contiguous (K, H, W): fast reductions
        for k, channel in enumerate(logits):
            cv2.resize(channel, (width, height), dst=back[k], interpolation=cv2.INTER_LINEAR)
        return back

    def postprocess(self, logits: np.ndarray) -> Prediction:
        logits = np.ascontiguousarray(logits, dtype=np.float32)
        if logits.shape[0] == 1:
            t = min(max(self.threshold, 1e-6), 1 - 1e-6)
            cut = np.float32(np.log(t / (1 - t)))  # sigmoid(z) > t  <=>  z > logit(t)
            labels = ((logits[0] > cut) * self.foreground_value).astype(np.uint8)
        else:
            index = logits.argmax(axis=0).astype(np.uint8)  # the softmax's argmax, without the softmax
            labels = self.class_values[index] if self.class_values is not None else index
        mask = self.apply_postprocess(labels)
        stats = mask_stats(mask, self.band, self.min_area_frac)
        return Prediction(logits, labels, mask.astype(np.uint8), stats)

    def apply_postprocess(self, labels: np.ndarray) -> np.ndarray:
        """The model's own component rules (band, minimum area, component limit) on a label map; any
        label values pass through, so evaluation can score exactly the mask a user is shown."""
        if not self.post_enabled:
            return labels
        keep = postprocess_binary((labels > 0).astype(np.uint8), self.band, self.min_area_frac,
                                  max_components=self.max_components)
        return labels * keep

    def predict(self, image: np.ndarray) -> Prediction:
        return self.postprocess(self.forward(self.preprocess(image)))


def load_predictor(path: str | Path, backend: str = "auto", providers: list[str] | None = None,
                   batch_size: int = 4, tta: bool = False) -> SegmentationPredictor:
    """A predictor for an exported ``.onnx`` model or a checkpoint; its provider is in ``.provider``.
    ``tta``: also run the mirror image and average (steadier masks, twice the time)."""
    return SegmentationPredictor(load_backend(path, backend, providers), batch_size, tta)
