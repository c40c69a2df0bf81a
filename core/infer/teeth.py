"""The inference contract's numbered-teeth branch: a model whose metadata carries an ``instances``
entry of kind ``fdi-teeth`` (``core.export.teeth``) is run here instead of through the per-pixel
threshold / argmax of ``SegmentationPredictor``.

Any backend (ONNX Runtime in the app and the slim build; PyTorch in tests) gives the 19 logits over
the working-scale canvas (``core.teeth.network_io``), then ``core.teeth.instances`` separates and
numbers the teeth, in numpy and OpenCV only: the app's predictor, ``toothseg predict`` and evaluation
all get the instances ``core.teeth.predictor.TeethPredictor`` gets from the same weights.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from core.annotation.instance_list import LOW_SCORE
from core.infer.contract import InferenceContract
from core.infer.postprocess import mask_stats
from core.teeth.instances import TeethPrediction, numbered_teeth
from core.teeth.network_io import teeth_outputs


def is_teeth_meta(meta: dict[str, Any]) -> bool:
    return (meta.get("instances") or {}).get("kind") == "fdi-teeth"


class TeethInstancePredictor:
    """Predictor of numbered, scored teeth over any Backend; ``predict`` returns a ``TeethPrediction``
    (FDI label map, instances with scores, teeth probability, ``stats`` like every prediction's)."""

    def __init__(self, backend, tta: bool = False) -> None:
        self.backend, self.tta = backend, tta
        self.meta, self.provider = backend.meta, backend.provider
        spec = self.meta["instances"]
        self.window = int(spec["window"])
        self.core_threshold = float(spec["core_threshold"])
        self.min_area = int(spec["min_area"])
        self.min_score = float(spec.get("min_score", 0.0))
        self.allowed = [int(c.get("value", c["id"])) for c in self.meta["classes"] if int(c.get("value", c["id"]))]
        self.class_values = None        # scores come with each tooth, not from per-class channels
        # the contract's class table (values, names) for evaluation; its per-pixel rules are not used here
        self.contract = InferenceContract.from_meta(self.meta)

    def predict(self, image: np.ndarray) -> TeethPrediction:
        if image.ndim not in (2, 3):
            raise ValueError(f"expected a 2-D grayscale image, got shape {image.shape}")
        out, tiles = teeth_outputs(self.backend.forward, image, self.window, self.tta)
        pred = numbered_teeth(out, image.shape[:2], self.allowed, self.min_area, self.min_score, self.core_threshold)
        pred.tiles = tiles
        pred.stats = {**mask_stats(pred.mask), "teeth": len(pred.instances)}
        return pred

    def assess(self, image: np.ndarray) -> tuple[TeethPrediction, dict[str, Any]]:
        """The prediction and its review signals: the estimate is the mean tooth score (uncalibrated,
        so never trusted for bulk accept); flagged when teeth score low or a number repeats."""
        pred = self.predict(image)
        scores = [i.score for i in pred.instances]
        values = [i.value for i in pred.instances]
        flags = []
        if not scores:
            flags.append("no teeth found")
        if sum(s < LOW_SCORE for s in scores):
            flags.append(f"{sum(s < LOW_SCORE for s in scores)} teeth score < {LOW_SCORE}")
        repeated = sorted({v for v in values if values.count(v) > 1})
        if repeated:
            flags.append("number(s) " + ", ".join(map(str, repeated)) + " used twice")
        q = float(np.mean(scores)) if scores else 0.0
        pred.stats.update(quality=q, plausible=not flags)
        return pred, {"quality": q, "flags": flags, "plausible": not flags, "trusted": False, "soft": q,
                      "flip": None, "area": None}
