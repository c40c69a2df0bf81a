"""Where a labeled image's mask came from and what a model did with it, for honest evaluation tables.

``train`` images taught the model (their scores are memory), ``val`` images chose its checkpoint and
rules (or trained it too: a model measured by cross-validation says so in its ``trained_splits``), ``test``
images were never used, ``accepted`` masks are pseudo-labels a person accepted in review (the model that
made them would be graded on its own output). Torch-free, for the viewer build too.
"""

from __future__ import annotations

from collections.abc import Iterable

from core.data.sample import Sample

ORIGINS = ("train", "val", "test", "accepted", "unsplit")
ORIGIN_TEXT = {"train": "train", "val": "val", "test": "test", "accepted": "accepted pseudo-label",
               "unsplit": "no split yet"}


def origin(sample: Sample) -> str:
    """``accepted`` for an accepted pseudo-label, else the sample's split (``unsplit`` before splits exist)."""
    return "accepted" if sample.status == "reviewed" else (sample.split or "unsplit")


def origin_counts(samples: Iterable[Sample]) -> dict[str, int]:
    """Training labels per origin (every origin present as a key)."""
    counts = dict.fromkeys(ORIGINS, 0)
    for s in samples:
        if s.is_training_label:
            counts[origin(s)] = counts.get(origin(s), 0) + 1
    return counts
