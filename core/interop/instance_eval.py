"""Instance-level evaluation: COCO mAP of a model's predicted instances against ground truth, and the
STS-2024 tooth measures (instance Dice of matched teeth, identification accuracy).

Ground truth comes from the COCO file itself when the dataset is in the COCO layout (exact,
possibly overlapping instances), otherwise from connected components of the label maps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from core.data.classes import ClassDef
from core.data.layouts.coco import load_coco
from core.data.masks import load_image, load_mask
from core.data.sample import Sample
from core.interop.coco import categories, coco_map, instance_annotations
from core.interop.instances import Instance, instances_from_labels
from core.interop.tooth_matching import ToothMatchCounts
from core.jobs import CancelToken, Progress


def _ground_truth(sample: Sample, image_id: int, first_id: int,
                  shape: tuple[int, int]) -> tuple[list[dict], list[Instance]]:
    if "coco_image_id" in sample.meta:
        data = load_coco(sample.mask)
        anns = [dict(a, image_id=image_id, id=first_id + k) for k, a in enumerate(
            a for a in data.get("annotations", []) if a.get("image_id") == sample.meta["coco_image_id"])]
        for a in anns:
            a.setdefault("iscrowd", 0)
        return anns, [_decoded(a, shape) for a in anns]
    labels = load_mask(sample, (shape[1], shape[0]))
    truth = instances_from_labels(labels, min_area=1)
    return instance_annotations(truth, image_id, first_id), truth


def _decoded(ann: dict, shape: tuple[int, int]) -> Instance:
    """A COCO annotation (polygons or RLE) as an Instance, for tooth matching."""
    from pycocotools import mask as mask_utils

    h, w = shape
    seg = ann["segmentation"]
    if isinstance(seg, list):                                  # polygons
        rle = mask_utils.merge(mask_utils.frPyObjects(seg, h, w))
    elif isinstance(seg.get("counts"), list):                  # uncompressed RLE
        rle = mask_utils.frPyObjects(seg, h, w)
    else:
        rle = dict(seg, counts=seg["counts"].encode("ascii") if isinstance(seg["counts"], str) else seg["counts"])
    mask = mask_utils.decode(rle).astype(bool)
    ys, xs = np.nonzero(mask)
    bbox = (int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)) if ys.size \
        else (0, 0, 0, 0)
    return Instance(int(ann["category_id"]), mask, int(mask.sum()), bbox)


def evaluate_instances(predictor: Any, samples: Sequence[Sample], classes: Sequence[ClassDef],
                       min_area: int = 20, progress: Progress | None = None,
                       cancel: CancelToken | None = None) -> dict[str, Any]:
    """mAP@[.5:.95], mAP@.5, mAR@100 and per-class AP (keyed by class value) of ``predictor``, with
    the tooth measures of ``core.interop.tooth_matching`` (instance Dice, identification accuracy)."""
    images, gt_anns, detections = [], [], []
    teeth = ToothMatchCounts()
    for k, s in enumerate(samples, start=1):
        if cancel:
            cancel.raise_if_cancelled("instance evaluation")
        image = load_image(s)
        h, w = image.shape[:2]
        images.append({"id": k, "file_name": s.id, "width": w, "height": h})
        anns, truth = _ground_truth(s, k, len(gt_anns) + 1, (h, w))
        gt_anns += anns
        pred = predictor.predict(image)
        values = [int(c.get("value", c.get("id"))) for c in predictor.meta.get("classes", [])]
        probs = pred.probabilities
        if getattr(pred, "instances", None) is not None:   # a predictor that separates and scores its own
            insts = [i for i in pred.instances if i.area >= min_area]
        elif probs.shape[0] == len(values):
            insts = instances_from_labels(pred.mask, probs, min_area=min_area, class_values=values)
        else:
            insts = instances_from_labels(pred.mask, probs[0] if probs.shape[0] == 1 else None, min_area=min_area)
        teeth.add(truth, insts)
        for det in instance_annotations(insts, k, 0):
            det.pop("id")
            detections.append(det)
        if progress:
            progress(k, len(samples), s.id)
    known = {c.value for c in classes} | {a["category_id"] for a in gt_anns}
    cats = categories([c for c in classes if c.value in known]) + [
        {"id": v, "name": str(v)} for v in sorted(known - {c.value for c in classes})]
    gt = {"images": images, "annotations": gt_anns, "categories": cats}
    result = coco_map(gt, detections)
    result.update({"n": len(images), "gt_instances": len(gt_anns), "pred_instances": len(detections)})
    result.update(teeth.summary())
    names = {str(c.value): c.name for c in classes}
    result["per_class_named"] = {names.get(k, k): v for k, v in result["per_class"].items()}
    return result

