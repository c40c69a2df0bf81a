"""The pseudo-label review queue: a model's masks for unlabeled images, waiting for a person's verdict.

Pseudo masks live in ``<project dir>/pseudo/`` (never beside the user's masks), the queue in
``<project dir>/review.json``. Accepting copies the (possibly edited) mask to
``Project.drawn_mask_path`` and marks the sample ``reviewed``, which makes it a training label;
rejecting marks it ``rejected``. Statuses go into the project file, so they survive a restart.
Predicting is a pure function of files (run it in a worker); ``ReviewQueue`` methods change the
project and belong on the thread that owns it.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.data.atomic import atomic_write_json
from core.data.io import read_image, read_mask, write_mask
from core.data.project import Project
from core.data.sample import Sample, SampleIndex
from core.errors import MaskError, ToothSegError
from core.jobs import CancelToken, Progress

QUEUE_FILE = "review.json"
PSEUDO_DIRNAME = "pseudo"
ORDERS = ("right", "wrong")  # most likely right first / most likely wrong first (by estimated Dice)
LEGACY_ORDERS = {"confident": "right", "uncertain": "wrong"}
BULK_MIN_QUALITY = 0.8  # bulk accept takes unflagged masks estimated at least this good


@dataclass
class ReviewItem:
    id: str
    mask: str                 # pseudo mask path, relative to the project dir
    uncertainty: float        # mean binary entropy of the foreground probability, 0 (sure) .. 1
    plausible: bool           # no quality flag (empty, size, position, low estimate)
    area_frac: float
    model: str = ""
    created: str = ""
    quality: float = -1.0     # estimated Dice 0..1 (core.infer.quality); -1 = not estimated (older queue)
    flags: list[str] = field(default_factory=list)  # why the mask looks wrong, in words
    trusted: bool = False     # the model's estimate ranked its held-out labels well (bulk accept may use it)


def queue_key(plausible: bool, score: float, sample_id: str, order: str = "right") -> tuple:
    """The queue's one ordering (the app, the CLI and the benchmarks): 'right' puts unflagged masks first,
    best estimate first; 'wrong' the reverse, ties by id either way."""
    return (not plausible, -score, sample_id) if order == "right" else (plausible, score, sample_id)


def pseudo_mask_path(project: Project, sample_id: str) -> Path:
    safe = sample_id.replace("\\", "/").replace("/", "__")
    return project.dir / PSEUDO_DIRNAME / f"{safe}.png"


def uncertainty(probabilities: np.ndarray) -> float:
    """Mean binary entropy (bits) of the foreground probability: 1 - max class prob for multi-class."""
    p = probabilities[0] if probabilities.shape[0] == 1 else 1.0 - probabilities.max(axis=0)
    p = np.clip(p.astype(np.float64), 1e-6, 1 - 1e-6)
    return float((-(p * np.log2(p) + (1 - p) * np.log2(1 - p))).mean())


def review_candidates(index: SampleIndex) -> list[Sample]:
    """Unlabeled images nobody has judged yet (rejected ones are not predicted again)."""
    return [s for s in index if not s.has_mask and s.status in ("unlabeled", "pseudo")]


def predict_for_review(project: Project, samples: list[Sample], model: str | Path, progress: Progress | None = None,
                       cancel: CancelToken | None = None, tta: bool = False) -> dict[str, Any]:
    """Predict ``samples`` with an exported model (ONNX Runtime, no torch needed); write pseudo masks, each
    with its estimated Dice and flags (``core.infer.quality``, calibrated when the model was trained).
    ``tta``: average each image with its mirror image (``core.infer.predictor``).

    Returns {"items": [ReviewItem, ...], "provider", "failed": [{"id", "error"}], "seconds"}.
    """
    from core.infer.predictor import load_predictor
    from core.infer.quality import assess

    t0 = time.monotonic()
    predictor = load_predictor(model, tta=tta)
    items: list[ReviewItem] = []
    failed: list[dict[str, str]] = []
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    for i, s in enumerate(samples):
        if cancel is not None:
            cancel.raise_if_cancelled("prediction")
        try:
            pred, info = assess(predictor, read_image(s.image))
            path = pseudo_mask_path(project, s.id)
            write_mask(path, pred.mask)
            items.append(ReviewItem(
                id=s.id, mask=path.relative_to(project.dir).as_posix(), uncertainty=uncertainty(pred.probabilities),
                plausible=bool(pred.stats.get("plausible", False)),
                area_frac=float(pred.stats.get("area_frac", 0.0)), model=Path(model).name, created=stamp,
                quality=round(float(info["quality"]), 4), flags=list(info["flags"]), trusted=bool(info["trusted"])))
        except (ToothSegError, ValueError, OSError) as exc:
            failed.append({"id": s.id, "error": str(exc)})
        if progress is not None:
            progress(i + 1, len(samples), s.id)
    return {"items": items, "provider": predictor.provider, "failed": failed,
            "seconds": round(time.monotonic() - t0, 3)}


class ReviewQueue:
    """Pending pseudo-labels of one project, kept in ``review.json`` beside the project file."""

    def __init__(self, project: Project, index: SampleIndex):
        self.project, self.index = project, index
        self.items: dict[str, ReviewItem] = {}
        self._load()

    @property
    def path(self) -> Path:
        return self.project.dir / QUEUE_FILE

    def _load(self) -> None:
        if not self.path.exists():
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            items = [ReviewItem(**x) for x in data.get("items", [])]
        except (OSError, ValueError, TypeError) as exc:
            raise ToothSegError(f"review queue {self.path} is unreadable ({exc}); delete it to start over") from exc
        self.items = {x.id: x for x in items if x.id in self.index and self.project.status.get(x.id) == "pseudo"}

    def save(self) -> None:
        atomic_write_json(self.path, {"format": "toothseg-review", "version": 1,
                                      "items": [asdict(x) for x in self.items.values()]})

    def add(self, items: list[ReviewItem]) -> int:
        """Queue new predictions (replacing older ones of the same image) and mark them ``pseudo``."""
        for item in items:
            if item.id not in self.index:
                continue
            self.items[item.id] = item
            self.project.set_status(item.id, "pseudo")
            self.index[item.id].status = "pseudo"
        self.save()
        self.project.save()
        return len(items)

    def pending(self, order: str = "right") -> list[ReviewItem]:
        """By estimated Dice: 'right' = most likely right first (flagged masks last), 'wrong' = most likely
        wrong first (flagged masks first). Items of an older queue without an estimate rank by certainty."""
        order = LEGACY_ORDERS.get(order, order)
        if order not in ORDERS:
            raise ToothSegError(f"unknown review order {order!r}; expected one of {', '.join(ORDERS)}")

        return sorted(self.items.values(), key=lambda x: queue_key(
            x.plausible, x.quality if x.quality >= 0 else 1.0 - x.uncertainty, x.id, order))

    def bulk_candidates(self, min_quality: float = BULK_MIN_QUALITY) -> list[ReviewItem]:
        """What a bulk accept may take: unflagged masks with an estimate of at least ``min_quality`` from a
        model whose estimate proved it ranks held-out labels (``QualityModel.trusted``), most likely right
        first. Flagged, unestimated or unproven estimates always need a person's look."""
        return [x for x in self.pending("right")
                if x.trusted and x.plausible and not x.flags and x.quality >= min_quality]

    def accept_many(self, sample_ids: list[str]) -> int:
        """Accept several pseudo masks as they are; refuses any flagged one (nothing is accepted then)."""
        items = [self._item(sid) for sid in sample_ids]
        flagged = [x.id for x in items if x.flags or not x.plausible]
        if flagged:
            raise ToothSegError(f"{len(flagged)} flagged mask(s) cannot be accepted in bulk ({flagged[0]}, ...): "
                                "open them one by one")
        for x in items:
            self.accept(x.id)
        return len(items)

    def mask(self, sample_id: str) -> np.ndarray:
        item = self._item(sample_id)
        return read_mask(self.project.dir / item.mask)

    def _item(self, sample_id: str) -> ReviewItem:
        item = self.items.get(sample_id)
        if item is None:
            raise ToothSegError(f"{sample_id} is not waiting for review")
        return item

    def accept(self, sample_id: str, mask: np.ndarray | None = None) -> Path:
        """Keep the pseudo mask (or the user's edited ``mask``) as this image's label; status ``reviewed``."""
        item = self._item(sample_id)
        labels = self.mask(sample_id) if mask is None else np.asarray(mask)
        sample = self.index[sample_id]
        if labels.ndim != 2:
            raise MaskError(f"an accepted mask must be a 2-D label map, got shape {labels.shape}")
        target = self.project.drawn_mask_path(sample_id)
        path = write_mask(target, labels.astype(np.uint8))
        sample.mask, sample.status = path, "reviewed"
        sample.meta["drawn"] = True
        self.project.set_status(sample_id, "reviewed")
        self._drop(item)
        return path

    def reject(self, sample_id: str) -> None:
        """Refuse the pseudo mask: status ``rejected`` (the image stays unlabeled for Label next)."""
        item = self._item(sample_id)
        self.project.set_status(sample_id, "rejected")
        self.index[sample_id].status = "rejected"
        self._drop(item)

    def _drop(self, item: ReviewItem) -> None:
        self.items.pop(item.id, None)
        (self.project.dir / item.mask).unlink(missing_ok=True)
        self.save()
        self.project.save()

    def counts(self) -> dict[str, int]:
        values = list(self.project.status.values())
        return {"pending": len(self.items), "reviewed": values.count("reviewed"),
                "rejected": values.count("rejected")}
