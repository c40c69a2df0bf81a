"""Dataset quality checks and mask statistics (the lumbar seed's check_pairs / analyze_masks).

Checks read image headers and decode masks only; they never write. Decoding runs on a small thread
pool because OpenCV releases the GIL while decoding.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from core.data.io import read_image
from core.data.masks import load_mask
from core.data.project import Project
from core.data.sample import Sample, SampleIndex
from core.errors import ToothSegError
from core.jobs import CancelToken, Progress


@dataclass
class Problem:
    path: str
    kind: str
    message: str
    severity: str = "error"  # "error" blocks training on that sample, "warning" is informational


@dataclass
class MaskInfo:
    """What one mask tells about the dataset; collected once, used by checks and stats."""

    sample_id: str
    values: dict[int, int] = field(default_factory=dict)  # label value -> pixel count
    height: int = 0
    width: int = 0
    rows: dict[int, tuple[int, int]] = field(default_factory=dict)  # value -> (first row, last row)


@dataclass
class CheckReport:
    layout: str
    images: int
    labeled: int
    unlabeled: int
    problems: list[Problem]
    masks: list[MaskInfo] = field(default_factory=list, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {"layout": self.layout, "images": self.images, "labeled": self.labeled,
                "unlabeled": self.unlabeled, "problems": [asdict(p) for p in self.problems]}


def _expects_mask(sample: Sample, layout: str) -> bool:
    if layout in ("unlabeled", "coco") or sample.meta.get("folder"):
        return False
    return sample.meta.get("label_status", "labeled") == "labeled"


def _inspect(sample: Sample) -> tuple[MaskInfo | None, list[Problem]]:
    problems: list[Problem] = []
    img_size = None
    try:
        image = read_image(sample.image)  # a full decode: headers alone miss truncated files
        img_size = (image.shape[1], image.shape[0])
        del image
    except ToothSegError as exc:
        problems.append(Problem(str(sample.image), "unreadable_image", str(exc)))
    if sample.mask is None:
        return None, problems
    try:
        labels = load_mask(sample)
    except ToothSegError as exc:
        problems.append(Problem(str(sample.mask), "unreadable_mask", str(exc)))
        return None, problems
    if img_size is not None and (labels.shape[1], labels.shape[0]) != tuple(img_size):
        problems.append(Problem(str(sample.mask), "size_mismatch",
                                f"mask is {labels.shape[1]}x{labels.shape[0]}, image is {img_size[0]}x{img_size[1]}"))
    counts = np.bincount(labels.ravel(), minlength=1)
    values = {int(v): int(c) for v, c in enumerate(counts) if c and v}
    info = MaskInfo(sample.id, values, labels.shape[0], labels.shape[1])
    for v in values:
        rows = np.nonzero((labels == v).any(axis=1))[0]
        info.rows[v] = (int(rows[0]), int(rows[-1]))
    if not values:
        problems.append(Problem(str(sample.mask), "empty_mask", "mask has no foreground pixels", "warning"))
    return info, problems


def check_dataset(index: SampleIndex, project: Project | None = None, progress: Progress | None = None,
                  cancel: CancelToken | None = None, workers: int = 4) -> CheckReport:
    """Pairing, readability, sizes, empty masks and unexpected label values of a whole dataset."""
    problems: list[Problem] = []
    for orphan in index.meta.get("orphan_masks", []):
        problems.append(Problem(orphan, "mask_without_image", "no image with the same name", "warning"))
    for dup in index.meta.get("duplicate_ids", []):
        problems.append(Problem(dup["image"], "duplicate_name", f"another image is also named {dup['same_as']!r}; "
                                f"this one is listed as {dup['id']!r} (rename one of them)", "warning"))
    for s in index:
        if s.mask is None and _expects_mask(s, index.layout):
            problems.append(Problem(str(s.image), "image_without_mask",
                                    "no mask with the same name (unlabeled)", "warning"))
    infos: list[MaskInfo] = []
    samples = list(index)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for done, (info, found) in enumerate(pool.map(_inspect, samples), start=1):
            problems.extend(found)
            if info is not None:
                infos.append(info)
            if progress:
                progress(done, len(samples), "checking")
            if cancel:
                cancel.raise_if_cancelled("check")
    problems.extend(_unexpected_values(index, infos, project))
    counts = index.counts()
    return CheckReport(index.layout, counts["images"], counts["labeled"], counts["unlabeled"], problems, infos)


def _unexpected_values(index: SampleIndex, infos: list[MaskInfo], project: Project | None) -> list[Problem]:
    """Label values the dataset does not otherwise use (e.g. a stray 128 in a 0/255 mask set)."""
    if not infos:
        return []
    if project is not None and project.path.exists():
        expected = {c.value for c in project.classes}
        reason = "not a class of the project"
    else:
        binary = sum(1 for i in infos if set(i.values) <= {1})
        if binary * 2 >= len(infos):
            expected, reason = {1}, "binary dataset: only 0 and 255 (or 0/1) expected"
        else:
            seen = Counter(v for i in infos for v in i.values)
            expected = {v for v, n in seen.items() if n >= 2 or len(infos) < 5}
            reason = "value found in no other mask of the dataset"
    out = []
    for info in infos:
        stray = sorted(set(info.values) - expected)
        if stray:
            mask = index[info.sample_id].mask
            out.append(Problem(str(mask), "unexpected_values",
                               f"mask holds values {stray[:8]} ({reason})"))
    return out


def mask_statistics(report: CheckReport) -> dict[str, Any]:
    """Per class: relative vertical extent (min top, max bottom) and area fraction mean/min/max."""
    per_class: dict[int, dict[str, list[float]]] = {}
    for info in report.masks:
        total = float(info.height * info.width) or 1.0
        fg = sum(info.values.values())
        for key, count, rows in [(0, fg, _union_rows(info))] + [
            (v, c, info.rows[v]) for v, c in info.values.items()
        ]:
            if key == 0 and not info.values:
                continue
            entry = per_class.setdefault(key, {"area": [], "top": [], "bottom": []})
            entry["area"].append(count / total)
            entry["top"].append(rows[0] / info.height)
            entry["bottom"].append((rows[1] + 1) / info.height)
    out: dict[str, Any] = {"masks": len(report.masks),
                           "empty_masks": sum(1 for i in report.masks if not i.values), "classes": {}}
    for key, e in sorted(per_class.items()):
        area = np.array(e["area"])
        out["classes"]["foreground" if key == 0 else str(key)] = {
            "masks": len(area), "area_frac_mean": float(area.mean()), "area_frac_min": float(area.min()),
            "area_frac_max": float(area.max()), "rel_y_min": float(min(e["top"])),
            "rel_y_max": float(max(e["bottom"])),
        }
    return out


def _union_rows(info: MaskInfo) -> tuple[int, int]:
    if not info.rows:
        return (0, 0)
    return min(r[0] for r in info.rows.values()), max(r[1] for r in info.rows.values())

