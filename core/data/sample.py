"""The one standard index every dataset layout is converted into (the nnU-Net habit)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STATUSES = ("unlabeled", "labeled", "pseudo", "reviewed", "rejected")
SPLITS = ("train", "val", "test")


@dataclass
class Sample:
    """One image and (maybe) its mask.

    ``status`` is where the sample stands in the human-in-the-loop cycle: ``labeled`` (a mask came
    with the data or was drawn), ``pseudo`` (a model's mask awaiting review), ``reviewed`` (a
    pseudo-label a person accepted), ``rejected`` (a pseudo-label a person refused).
    """

    id: str
    image: Path
    mask: Path | None = None
    group: str = ""
    split: str = ""
    status: str = "unlabeled"
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def has_mask(self) -> bool:
        return self.mask is not None

    @property
    def is_training_label(self) -> bool:
        """Labels a training run may use: drawn/shipped masks and accepted pseudo-labels."""
        return self.mask is not None and self.status in ("labeled", "reviewed")


class SampleIndex:
    """An ordered, id-addressable list of samples plus the layout that produced it."""

    def __init__(self, root: Path, layout: str, samples: Iterable[Sample], meta: dict[str, Any] | None = None):
        self.root = Path(root)
        self.layout = layout
        self.samples: list[Sample] = list(samples)
        self.meta: dict[str, Any] = dict(meta or {})
        self._by_id: dict[str, Sample] = {}
        for s in self.samples:
            if s.id in self._by_id:
                self._rename_duplicate(s)
            self._by_id[s.id] = s

    def _rename_duplicate(self, sample: Sample) -> None:
        """Two images with one stem (``a.jpg`` and ``a.png``) are both kept: the first (natural order)
        keeps the id, its mask and the project's splits/status; a later one becomes ``a.png`` (its
        file name), unlabeled unless a mask of its own came with it, in the same split group.
        ``meta["duplicate_ids"]`` lists them so ``check`` can say so."""
        original = sample.id
        candidate = f"{original}{sample.image.suffix}"
        n = 2
        while candidate in self._by_id:
            candidate = f"{original}{sample.image.suffix}#{n}"
            n += 1
        sample.id = candidate
        sample.group = sample.group or original
        if sample.mask is not None and any(s.mask == sample.mask for s in self._by_id.values()):
            sample.mask, sample.status = None, "unlabeled"  # one mask file must not back two images
        self.meta.setdefault("duplicate_ids", []).append(
            {"id": candidate, "same_as": original, "image": str(sample.image)})

    def __len__(self) -> int:
        return len(self.samples)

    def __iter__(self) -> Iterator[Sample]:
        return iter(self.samples)

    def __getitem__(self, key: int | str) -> Sample:
        return self._by_id[key] if isinstance(key, str) else self.samples[key]

    def __contains__(self, sample_id: object) -> bool:
        return sample_id in self._by_id

    def get(self, sample_id: str) -> Sample | None:
        return self._by_id.get(sample_id)

    def labeled(self) -> list[Sample]:
        return [s for s in self.samples if s.is_training_label]

    def unlabeled(self) -> list[Sample]:
        return [s for s in self.samples if not s.has_mask]

    def in_split(self, split: str) -> list[Sample]:
        return [s for s in self.samples if s.split == split]

    def counts(self) -> dict[str, int]:
        labeled = sum(1 for s in self.samples if s.has_mask)
        return {"images": len(self.samples), "labeled": labeled, "unlabeled": len(self.samples) - labeled}

    def rel(self, path: Path | None) -> str:
        if path is None:
            return ""
        try:
            return Path(path).relative_to(self.root).as_posix()
        except ValueError:
            return Path(path).as_posix()

    def to_csv(self, path: Path | None = None) -> str:
        """CSV of the index. The first five columns are the STS-2D-Tooth seed's; one row per file."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["rel_path", "age_group", "label_status", "is_mask", "pair_id",
                         "sample_id", "group", "split", "status"])
        for s in self.samples:
            age = s.meta.get("age_group", "")
            label_status = "labeled" if s.has_mask else "unlabeled"
            common = [age, label_status]
            writer.writerow([self.rel(s.image), *common, 0, s.id, s.id, s.group, s.split, s.status])
            if s.mask is not None and s.meta.get("mask_in_file", True):
                writer.writerow([self.rel(s.mask), *common, 1, s.id, s.id, s.group, s.split, s.status])
        text = buf.getvalue()
        if path is not None:
            from core.data.atomic import atomic_write_bytes

            # file names that are not valid UTF-8 are written back as the bytes they are on disk
            atomic_write_bytes(path, text.encode("utf-8", "surrogateescape"))
        return text
