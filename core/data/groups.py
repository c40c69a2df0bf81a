"""Acquisition groups: which images come from the same patient, study, series or video clip.

A validation image that shares a clip with a training image measures memory of that clip, not the
next patient (TG3K: validation 0.84 against 0.77 on unseen videos). Groups are found, most reliable
first, from: DICOM headers (patient, else study, else series), the layout's own structure (STS-2D
age group / pair id), file-name prefixes (``patient12_frame003`` -> ``patient12_frame``), and, where
names carry only a running number, the sequence of ids cut wherever consecutive frames stop looking
alike (a new clip starts). Names that say nothing at all are clustered by image content (tiny
contrast-normalised thumbnails, single linkage). A folder where this finds one group only, or every
image alone, gets a message saying so and a fallback (contiguous blocks of the sequence, or one group
per image) — never an exception. The result is stored in the project file (``extra["groups"]``).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.data.appearance import appearance_vector
from core.data.io import is_dicom, read_image
from core.data.sample import Sample, SampleIndex
from core.errors import ImageReadError
from core.jobs import CancelToken, Progress

THUMB = 16            # thumbnail side: clips and probe positions differ, fine anatomy does not count
CUT_DISTANCE = 0.7    # RMS distance of normalised thumbnails above which consecutive frames start a new clip
LINK_DISTANCE = 0.45  # unordered images closer than this (single linkage) are one clip
FALLBACK_BLOCKS = 5   # one group only: cut the sequence into this many contiguous blocks
PROJECT_KEY = "groups"

_NUMBERED = re.compile(r"^(.*?)(\d+)$")


@dataclass
class Grouping:
    """Group name per sample id, how it was found, and a warning when it says little."""

    groups: dict[str, str]
    method: str
    message: str = ""
    sources: dict[str, int] = field(default_factory=dict)  # method -> samples grouped by it

    @property
    def count(self) -> int:
        return len(set(self.groups.values()))

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "message": self.message, "sources": self.sources, "of": self.groups}

    @classmethod
    def from_json(cls, data: Any) -> Grouping | None:
        if not isinstance(data, dict) or not isinstance(data.get("of"), dict):
            return None
        return cls({str(k): str(v) for k, v in data["of"].items()}, str(data.get("method", "")),
                   str(data.get("message", "")), dict(data.get("sources", {})))

    def describe(self) -> str:
        text = f"{self.count} acquisition groups ({self.method})"
        return f"{text}: {self.message}" if self.message else text


def thumbnail(image: np.ndarray, side: int = THUMB) -> np.ndarray:
    """Grey, area-resized, zero-mean unit-variance vector (brightness and gain do not count)."""
    return appearance_vector(image, side)


def dicom_key(path: Path) -> str | None:
    """Patient, else study, else series of a DICOM file; None for other files or empty headers."""
    try:
        if not is_dicom(path):
            return None
        import pydicom

        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    except Exception:  # an unreadable header only means: no DICOM evidence for this file
        return None
    for tag in ("PatientID", "StudyInstanceUID", "SeriesInstanceUID"):
        value = str(getattr(ds, tag, "") or "").strip()
        if value:
            return f"{tag.removesuffix('InstanceUID').removesuffix('ID').lower()}:{value}"
    return None


def name_parts(sample_id: str) -> tuple[str, int | None]:
    """(prefix, running number) of a sample id's last path part: ``patient12_frame003`` -> (patient12_frame, 3)."""
    stem = Path(sample_id).name
    m = _NUMBERED.match(stem)
    return (m.group(1), int(m.group(2))) if m else (stem, None)


def sequence_cuts(thumbs: np.ndarray, cut: float = CUT_DISTANCE) -> list[int]:
    """Positions i where frame i starts a new clip (frame i-1 and i look unalike)."""
    if len(thumbs) < 2:
        return []
    d = np.sqrt(((thumbs[1:] - thumbs[:-1]) ** 2).mean(axis=1))
    return [int(i) + 1 for i in np.nonzero(d > cut)[0]]


def link_clusters(thumbs: np.ndarray, link: float = LINK_DISTANCE) -> list[int]:
    """Cluster label per row: single linkage of pairs closer than ``link`` (RMS thumbnail distance)."""
    from core.data.splits import _UnionFind

    n = len(thumbs)
    uf = _UnionFind(n)
    sq = (thumbs ** 2).sum(axis=1)
    dim = thumbs.shape[1] if n else 1
    for i in range(n - 1):
        d2 = (sq[i] + sq[i + 1:] - 2 * thumbs[i + 1:] @ thumbs[i]) / dim
        for j in np.nonzero(d2 < link * link)[0]:
            uf.union(i, i + 1 + int(j))
    return [uf.find(i) for i in range(n)]


def find_groups(index: SampleIndex | Sequence[Sample], load: Callable[[Sample], np.ndarray] | None = None,
                progress: Progress | None = None, cancel: CancelToken | None = None) -> Grouping:
    """Acquisition group of every sample (reads every image once; run it off the UI thread)."""
    samples = list(index)
    load = load or (lambda s: read_image(s.image))
    groups: dict[str, str] = {}
    sources: Counter[str] = Counter()
    rest: list[Sample] = []
    for s in samples:
        key = dicom_key(s.image)
        if key is not None:
            groups[s.id], sources["dicom"] = key, sources["dicom"] + 1
        elif s.group and s.group != s.id and s.group != Path(s.id).name:
            groups[s.id], sources["layout"] = f"layout:{s.group}", sources["layout"] + 1
        else:
            rest.append(s)
    by_prefix: dict[str, list[tuple[int | None, Sample]]] = defaultdict(list)
    for s in rest:
        prefix, number = name_parts(s.id)
        by_prefix[prefix].append((number, s))
    numbered = {p: m for p, m in by_prefix.items() if len(m) >= 2 and all(n is not None for n, _ in m)}
    sequences: list[list[tuple[int | None, Sample]]] = []
    loose: list[Sample] = []
    if len(numbered) >= 2:  # names carry patients or clips: each numbered prefix is one group
        for prefix, members in numbered.items():
            for _, s in members:
                groups[s.id] = f"name:{prefix}"
            sources["names"] += len(members)
        loose = [s for p, m in by_prefix.items() if p not in numbered for _, s in m]
    else:
        for p, m in by_prefix.items():
            if p not in numbered:
                loose += [s for _, s in m]
                continue
            by_dir: dict[str, list[tuple[int | None, Sample]]] = defaultdict(list)
            for number, s in m:  # images/0001 and unlabeled/0001 are different sequences
                by_dir[str(Path(s.id).parent)].append((number, s))
            sequences += [sorted(d, key=lambda t: (t[0], t[1].id)) for d in by_dir.values()]
    total, done = sum(len(m) for m in sequences) + len(loose), 0

    def thumbs_of(items: list[Sample]) -> np.ndarray:
        nonlocal done
        out = []
        for s in items:
            if cancel is not None:
                cancel.raise_if_cancelled("finding acquisition groups")
            try:
                out.append(thumbnail(load(s)))
            except ImageReadError:
                out.append(np.full(THUMB * THUMB, np.nan, dtype=np.float32))  # reported by `check`
            done += 1
            if progress is not None:
                progress(done, total, "finding acquisition groups")
        return np.stack(out) if out else np.zeros((0, THUMB * THUMB), np.float32)

    for members in sequences:
        ordered = [s for _, s in members]
        thumbs = np.nan_to_num(thumbs_of(ordered), nan=0.0)
        starts = [0, *sequence_cuts(thumbs)]
        for k, start in enumerate(starts):
            end = starts[k + 1] if k + 1 < len(starts) else len(ordered)
            label = f"seq:{ordered[start].id}-{Path(ordered[end - 1].id).name}"
            for s in ordered[start:end]:
                groups[s.id] = label
        sources["sequence"] += len(ordered)
    if loose:
        thumbs = np.nan_to_num(thumbs_of(loose), nan=0.0)
        labels = link_clusters(thumbs)
        first: dict[int, str] = {}
        for s, lab in zip(loose, labels, strict=True):
            first.setdefault(lab, s.id)
            groups[s.id] = f"look:{first[lab]}"
        sources["content"] += len(loose)
    method = "+".join(k for k, _ in sources.most_common()) or "none"
    return _with_fallback(Grouping(groups, method, sources=dict(sources)), samples)


def _with_fallback(grouping: Grouping, samples: list[Sample]) -> Grouping:
    """One group only, or every image alone: say so, and fall back to something that still splits."""
    labeled = [s for s in samples if s.has_mask]
    n = len(labeled) or len(samples)
    if n < 2:
        return grouping
    counted = {grouping.groups[s.id] for s in (labeled or samples)}
    if len(counted) == 1:
        ordered = sorted(samples, key=lambda s: (name_parts(s.id)[1] is None, name_parts(s.id)[1] or 0, s.id))
        blocks = min(FALLBACK_BLOCKS, len(ordered))
        for i, s in enumerate(ordered):
            grouping.groups[s.id] = f"block:{i * blocks // len(ordered) + 1}"
        grouping.method = f"{grouping.method}, one group only: {blocks} contiguous blocks"
        grouping.message = ("every image looks like one acquisition (one group only); validation uses "
                            f"{blocks} contiguous blocks of the folder instead, so it measures this "
                            "acquisition, not a new patient")
    elif len(counted) == n and n >= 4:
        grouping.method = f"{grouping.method}, every image alone"
        grouping.message = ("no two images share an acquisition group (names and content show no series), so "
                            "each image counts on its own; if they come from few patients, intervals are too narrow")
    return grouping


def apply_groups(index: SampleIndex, grouping: Grouping | None) -> None:
    """Set ``Sample.group`` from a grouping (samples it does not know keep their layout's group)."""
    if grouping is None:
        return
    for s in index:
        if s.id in grouping.groups:
            s.group = grouping.groups[s.id]


def stored_groups(project: Any) -> Grouping | None:
    """The grouping kept in a project file, or None."""
    return Grouping.from_json(project.extra.get(PROJECT_KEY))


def store_groups(project: Any, grouping: Grouping) -> None:
    """Keep a grouping in the project (the caller saves the project)."""
    project.extra[PROJECT_KEY] = grouping.to_json()


def ensure_groups(project: Any, index: SampleIndex, progress: Progress | None = None,
                  cancel: CancelToken | None = None) -> Grouping:
    """The project's grouping, found anew when it is missing or misses samples; applied to ``index``."""
    grouping = stored_groups(project)
    if grouping is None or any(s.id not in grouping.groups for s in index):
        grouping = find_groups(index, progress=progress, cancel=cancel)
        store_groups(project, grouping)
    apply_groups(index, grouping)
    return grouping
