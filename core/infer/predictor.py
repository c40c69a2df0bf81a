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
from core.infer.contract import InferenceContract
from core.infer.sliding import sliding_forward
from core.preprocess import apply_preprocess, to_network_size


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
        return probabilities(self.logits)


def probabilities(logits: np.ndarray) -> np.ndarray:
    """(K, H, W) logits -> float32 sigmoid (K=1) or softmax over the classes."""
    if logits.shape[0] == 1:
        return (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
    probs = np.asarray(logits, dtype=np.float32) - logits.max(axis=0, keepdims=True)
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
        self.contract = InferenceContract.from_meta(self.meta)
        self.threshold = self.contract.threshold
        self.band = self.contract.band
        self.min_area_frac = self.contract.min_area_frac
        self.max_components = self.contract.max_components
        self.post_enabled = self.contract.enabled
        self.class_values = self.contract.class_values
        self.foreground_value = self.contract.foreground_value
        values, channels = list(self.contract.values), self.contract.channels
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
        small = to_network_size(np.moveaxis(x, 0, -1), size)
        logits = self.backend.forward(np.moveaxis(small, -1, 0)[None])[0]
        back = np.empty((logits.shape[0], height, width), np.float32)  # contiguous (K, H, W): fast reductions
        for k, channel in enumerate(logits):
            cv2.resize(channel, (width, height), dst=back[k], interpolation=cv2.INTER_LINEAR)
        return back

    def postprocess(self, logits: np.ndarray) -> Prediction:
        """The model's inference contract (threshold, classes, component rules) on logits."""
        logits = np.ascontiguousarray(logits, dtype=np.float32)
        labels, mask, stats = self.contract.apply(logits)
        return Prediction(logits, labels, mask, stats)

    def apply_postprocess(self, labels: np.ndarray) -> np.ndarray:
        """The model's own component rules (band, minimum area, component limit) on a label map; any
        label values pass through, so evaluation can score exactly the mask a user is shown."""
        return self.contract.rules(labels)

    def probabilities(self, image: np.ndarray, tta: bool | None = None) -> np.ndarray:
        """(K, H, W) probabilities at the image's size (sigmoid or softmax); ``tta`` None = as set up."""
        x = self.preprocess(image)
        if tta is None or tta == self.tta:
            logits = self.forward(x)
        else:
            logits = (self.forward_once(x) + self.mirrored_forward(x)) * np.float32(0.5) if tta else self.forward_once(x)
        return probabilities(logits)

    def flip_disagreement(self, image: np.ndarray) -> float:
        """Mean |p(x) - mirror(p(mirror(x)))| (FDI sides swapped back): how much a flip changes the answer."""
        x = self.preprocess(image)
        return float(np.abs(probabilities(self.forward_once(x)) - probabilities(self.mirrored_forward(x))).mean())

    def predict(self, image: np.ndarray) -> Prediction:
        return self.postprocess(self.forward(self.preprocess(image)))


def load_predictor(path: str | Path, backend: str = "auto", providers: list[str] | None = None,
                   batch_size: int = 4, tta: bool = False):
    """A predictor for an exported ``.onnx`` model or a checkpoint; its provider is in ``.provider``.
    ``tta``: also run the mirror image and average (steadier masks, twice the time). A numbered-teeth
    model (metadata ``instances``) gets the contract's teeth branch, ``core.infer.teeth``."""
    from core.infer.teeth import TeethInstancePredictor, is_teeth_meta

    loaded = load_backend(path, backend, providers)
    if is_teeth_meta(loaded.meta):
        return TeethInstancePredictor(loaded, tta)
    return SegmentationPredictor(loaded, batch_size, tta)
