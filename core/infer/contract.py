"""The inference contract: how a model's logits become the mask a user is shown, in one place.

Threshold, class values, band, minimum area and the largest-component rule all come from the model's
own metadata (ONNX ``metadata_props`` or the checkpoint sidecar, see ``core.models.describe``). The
app's predictor, ``toothseg predict``, ``evaluate``, ``pseudo-label`` and ``suggest`` all go through
``InferenceContract``, so one model gives one mask whoever runs it (issue 16; before, evaluation cut
at 0.5 and pseudo-labelling ignored the component rule). A numbered-teeth model (metadata ``instances``)
has no per-pixel rules: its branch of the contract, ``core.infer.teeth``, separates and numbers the
teeth instead, and ``load_predictor`` picks it from the metadata.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from core.infer.postprocess import mask_stats, postprocess_binary


@dataclass(frozen=True)
class InferenceContract:
    """Logits (K, H, W) -> label map before the rules -> label map after them (+ its statistics)."""

    threshold: float = 0.5
    band: tuple[float, float] | None = None
    min_area_frac: float = 0.0
    max_components: int = 0
    enabled: bool = True
    channels: int = 1
    values: tuple[int, ...] = (0, 1)  # label-map value of each class (binary: background, foreground)

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> InferenceContract:
        post = meta.get("postprocess") or {}
        values = tuple(int(c.get("value", c["id"])) for c in meta["classes"])
        return cls(threshold=float(meta.get("threshold", 0.5)),
                   band=tuple(post["band"]) if post.get("band") else None,
                   min_area_frac=float(post.get("min_area_frac", 0.0)),
                   max_components=int(post.get("max_components", 0) or 0),
                   enabled=bool(post.get("enabled", True)),
                   channels=int(meta["architecture"].get("out_channels", 1)), values=values)

    def overridden(self, **changes: Any) -> InferenceContract:
        """A copy with some rules replaced (``pseudo-label --band``); ``None`` values keep the model's."""
        kept = {k: v for k, v in changes.items() if v is not None}
        if "band" in kept:
            kept["band"] = tuple(kept["band"]) if len(kept["band"]) else None
        return replace(self, **kept)

    @property
    def binary(self) -> bool:
        return self.channels == 1

    @property
    def foreground_value(self) -> int:
        return self.values[1] if self.binary and len(self.values) == 2 else 1

    @property
    def class_values(self) -> np.ndarray | None:
        """uint8 value per output channel (FDI numbers ...), or None when the classes do not say."""
        return np.array(self.values, np.uint8) if len(self.values) == self.channels else None

    def labels(self, logits: np.ndarray) -> np.ndarray:
        """Label-map values before the component rules: sigmoid > threshold (binary), else argmax."""
        logits = np.asarray(logits, dtype=np.float32)
        if self.binary:
            t = min(max(self.threshold, 1e-6), 1 - 1e-6)
            cut = np.float32(np.log(t / (1 - t)))  # sigmoid(z) > t  <=>  z > logit(t)
            return ((logits[0] > cut) * self.foreground_value).astype(np.uint8)
        index = logits.argmax(axis=0).astype(np.uint8)  # the softmax's argmax, without the softmax
        values = self.class_values
        return values[index] if values is not None else index

    def rules(self, labels: np.ndarray) -> np.ndarray:
        """Band, minimum area and component limit on any label map (label values pass through)."""
        if not self.enabled:
            return np.asarray(labels, np.uint8)
        keep = postprocess_binary((np.asarray(labels) > 0).astype(np.uint8), self.band, self.min_area_frac,
                                  max_components=self.max_components)
        return (labels * keep).astype(np.uint8)

    def apply(self, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """(labels before the rules, the shown mask, its area / centroid / plausibility statistics)."""
        labels = self.labels(logits)
        mask = self.rules(labels)
        return labels, mask, mask_stats(mask, self.band, self.min_area_frac)
