"""Instance mAP evaluation on real FDI label maps, with predictions we control."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from core.data.classes import fdi_classes, mirror_value
from core.data.layouts import load_index
from core.data.masks import load_mask
from core.interop.instance_eval import evaluate_instances
from tests.core.helpers import copy_pairs


class FixedPredictor:
    """Returns prepared label maps in order, like a model that predicted them."""

    def __init__(self, masks):
        self.masks = list(masks)
        self.meta = {"classes": [{"value": 0}] + [{"value": c.value} for c in fdi_classes()]}

    def predict(self, image):
        mask = self.masks.pop(0)
        probs = np.zeros((33, *mask.shape), np.float32)
        values = [c["value"] for c in self.meta["classes"]]
        for k, v in enumerate(values):
            probs[k][mask == v] = 0.9
        return SimpleNamespace(mask=mask, probabilities=probs)


def test_perfect_and_shifted_predictions(shared_data, tmp_path):
    copy_pairs(shared_data, "ufba425_teeth", 3, tmp_path)
    samples = load_index(tmp_path).labeled()
    truth = [load_mask(s) for s in samples]
    perfect = evaluate_instances(FixedPredictor(truth), samples, fdi_classes(), min_area=1)
    assert perfect["map"] > 0.99 and perfect["map50"] > 0.99 and perfect["n"] == 3
    assert perfect["gt_instances"] >= 60 and perfect["pred_instances"] == perfect["gt_instances"]
    assert "tooth 11" in perfect["per_class_named"]
    shifted = evaluate_instances(FixedPredictor([np.roll(m, 12, axis=1) for m in truth]), samples, fdi_classes())
    assert shifted["map"] < perfect["map"] - 0.3


def test_tooth_measures_separate_finding_from_numbering(shared_data, tmp_path):
    """Instance Dice and identification accuracy (STS-2024): renumbering every tooth keeps the
    outlines (instance Dice 1) but numbers none right; dropping teeth lowers recall only."""
    copy_pairs(shared_data, "ufba425_teeth", 2, tmp_path)
    samples = load_index(tmp_path).labeled()
    truth = [load_mask(s) for s in samples]
    perfect = evaluate_instances(FixedPredictor(truth), samples, fdi_classes(), min_area=1)
    assert perfect["instance_dice"] == 1.0 and perfect["identification_accuracy"] == 1.0
    assert perfect["matched_teeth"] == perfect["true_teeth"] >= 40
    swapped = []
    for m in truth:                                   # every tooth gets its mirror image's number
        out = m.copy()
        for v in np.unique(m[m > 0]).tolist():
            out[m == v] = mirror_value(v)
        swapped.append(out)
    renumbered = evaluate_instances(FixedPredictor(swapped), samples, fdi_classes(), min_area=1)
    assert renumbered["instance_dice"] == 1.0 and renumbered["identification_accuracy"] == 0.0
    assert renumbered["map50"] < 0.05
    missing = [np.where(np.isin(m, [11, 21, 36]), 0, m) for m in truth]
    dropped = evaluate_instances(FixedPredictor(missing), samples, fdi_classes(), min_area=1)
    lost = sum(len(set(np.unique(m)) & {11, 21, 36}) for m in truth)
    assert dropped["matched_teeth"] == dropped["true_teeth"] - lost
    assert dropped["detection_precision"] == 1.0 and dropped["identification_accuracy"] < 1.0
