"""The STS-2024 challenge's tooth measures beside COCO mAP: instance Dice and identification accuracy.

COCO mAP mixes finding a tooth with numbering it; a dentist asks the two questions apart. Predicted
and true teeth are matched one-to-one regardless of their numbers (IoU > 0.5, so a match is unique);
then
- ``instance_dice``: mean Dice of the matched pairs (how well a found tooth is outlined),
- ``identification_accuracy``: share of true teeth matched by a prediction carrying the same FDI
  number (found *and* numbered right),
- ``detection_recall`` / ``detection_precision``: share of true teeth found / predictions that match.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from core.interop.instances import Instance

MATCH_IOU = 0.5


@dataclass
class ToothMatchCounts:
    """Running totals over images, so that a whole test set is scored as one pool of teeth."""

    true_teeth: int = 0
    predicted: int = 0
    matched: int = 0
    numbered_right: int = 0
    dice: list[float] = field(default_factory=list)

    def add(self, truth: Sequence[Instance], predicted: Sequence[Instance]) -> None:
        pairs = match_instances(truth, predicted)
        self.true_teeth += len(truth)
        self.predicted += len(predicted)
        self.matched += len(pairs)
        for t, p, dice in pairs:
            self.dice.append(dice)
            self.numbered_right += int(truth[t].value == predicted[p].value)

    def summary(self) -> dict[str, float | int | None]:
        def share(a: int, b: int) -> float | None:
            return round(a / b, 4) if b else None

        return {"instance_dice": round(float(np.mean(self.dice)), 4) if self.dice else None,
                "identification_accuracy": share(self.numbered_right, self.true_teeth),
                "detection_recall": share(self.matched, self.true_teeth),
                "detection_precision": share(self.matched, self.predicted),
                "true_teeth": self.true_teeth, "predicted_teeth": self.predicted, "matched_teeth": self.matched}


def match_instances(truth: Sequence[Instance], predicted: Sequence[Instance],
                    min_iou: float = MATCH_IOU) -> list[tuple[int, int, float]]:
    """(true index, predicted index, Dice) of every pair with IoU > ``min_iou``, class ignored.

    With IoU above 0.5 two regions can overlap one region that much only if they overlap each
    other, which instances of one map do not, so the pairing is unique without an assignment solver.
    Boxes are compared first: most pairs of teeth do not touch.
    """
    pairs = []
    taken: set[int] = set()
    for t, gt in enumerate(truth):
        best, best_iou, best_dice = -1, min_iou, 0.0
        for p, pr in enumerate(predicted):
            if p in taken or not _boxes_touch(gt.bbox, pr.bbox):
                continue
            inter = int(np.logical_and(gt.mask, pr.mask).sum())
            if inter == 0:
                continue
            union = gt.area + pr.area - inter
            iou = inter / union
            if iou > best_iou:
                best, best_iou, best_dice = p, iou, 2 * inter / (gt.area + pr.area)
        if best >= 0:
            taken.add(best)
            pairs.append((t, best, float(best_dice)))
    return pairs


def _boxes_touch(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    return ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah
