"""COCO JSON (polygons or RLE) beside its images; masks are rasterised lazily into label maps.

The label value of a pixel is the COCO category id (categories become project classes), so a
COCO file with FDI-numbered categories gives the same label maps as the FDI PNG masks.
"""

from __future__ import annotations

import json
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from core.data.layouts.base import Layout, find_child, register_layout
from core.data.layouts.coco_schema import validate_coco
from core.data.sample import Sample, SampleIndex
from core.errors import LayoutError, MaskError

_JSON_NAMES = ("annotations.json", "_annotations.coco.json", "instances.json", "coco.json", "labels.json")


def find_coco_json(root: Path) -> Path | None:
    candidates = [root / n for n in _JSON_NAMES] + sorted(root.glob("*.json"))
    ann_dir = find_child(root, ("annotations",))
    if ann_dir is not None:
        candidates += sorted(ann_dir.glob("*.json"))
    for path in candidates:
        if path.is_file() and _looks_like_coco(path):
            return path
    return None


def _looks_like_coco(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:  # bytes: a file that is not UTF-8 is still named as a bad COCO file
            head = fh.read(4096)
    except OSError:
        return False
    return b'"images"' in head or b'"annotations"' in head or b'"categories"' in head


def detect(root: Path) -> bool:
    return find_coco_json(root) is not None


@lru_cache(maxsize=8)
def _load_json(path: str, mtime: float) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError, RecursionError) as exc:
        raise LayoutError(f"{Path(path).name}: unreadable COCO JSON ({str(exc)[:120]})") from exc
    validate_coco(data, Path(path).name)
    return data


def load_coco(path: Path) -> dict[str, Any]:
    return _load_json(str(path), path.stat().st_mtime)


def _resolve_image(root: Path, json_path: Path, file_name: str) -> Path:
    for base in (json_path.parent, root, root / "images", json_path.parent.parent / "images"):
        cand = base / file_name
        if cand.is_file():
            return cand
    return root / "images" / file_name if (root / "images").is_dir() else json_path.parent / file_name


def build(root: Path) -> SampleIndex:
    json_path = find_coco_json(root)
    data = load_coco(json_path)
    samples = []
    stems = [Path(str(e["file_name"])).stem for e in data["images"]]
    stem_counts = Counter(stems)
    seen: set[str] = set()
    for entry, stem in zip(data["images"], stems, strict=True):
        name = str(entry["file_name"])
        sid = stem if stem_counts[stem] == 1 else Path(name).with_suffix("").as_posix()
        if sid in seen:
            sid = f"{sid}#{entry['id']}"
        seen.add(sid)
        samples.append(Sample(id=sid, image=_resolve_image(root, json_path, name), mask=json_path,
                              group=sid, status="labeled",
                              meta={"coco_image_id": entry["id"], "mask_in_file": False,
                                    "width": entry.get("width"), "height": entry.get("height")}))
    categories = [{"id": int(c["id"]), "name": str(c.get("name", c["id"]))} for c in data.get("categories", [])]
    return SampleIndex(root, "coco", samples, meta={"coco_json": str(json_path), "categories": categories})


def rasterize(json_path: Path, image_id: Any, size: tuple[int, int] | None = None) -> np.ndarray:
    """Label map of one COCO image: larger instances first so small ones stay visible on top."""
    from pycocotools import mask as mask_utils

    data = load_coco(json_path)
    entry = next((im for im in data["images"] if im["id"] == image_id), None)
    if entry is None:
        raise MaskError(f"{json_path.name}: no image with id {image_id}")
    w, h = size or (int(entry["width"]), int(entry["height"]))
    labels = np.zeros((h, w), np.uint8)
    anns = [a for a in data.get("annotations", []) if a.get("image_id") == image_id]
    anns.sort(key=lambda a: -float(a.get("area", 0)))
    for ann in anns:
        cat = int(ann["category_id"])
        if not 0 < cat < 256:
            raise MaskError(f"{json_path.name}: category id {cat} does not fit a uint8 label map")
        seg = ann.get("segmentation")
        if not seg:
            continue
        try:
            if isinstance(seg, list):
                rles = mask_utils.frPyObjects([p for p in seg if len(p) >= 6], h, w)
                rle = mask_utils.merge(rles) if rles else None
            elif isinstance(seg.get("counts"), list):
                rle = mask_utils.frPyObjects(seg, h, w)
            else:
                rle = dict(seg, counts=seg["counts"].encode() if isinstance(seg["counts"], str) else seg["counts"])
            if rle is None:
                continue
            m = mask_utils.decode(rle).astype(bool)
        except (ValueError, TypeError, OverflowError) as exc:  # pycocotools on a malformed RLE
            raise MaskError(f"{json_path.name}: annotation {ann.get('id')} cannot be decoded ({exc})") from exc
        if m.shape != labels.shape:
            raise MaskError(f"{json_path.name}: annotation {ann.get('id')} is {m.shape[::-1]}, image is {(w, h)}")
        labels[m] = cat
    return labels


LAYOUT = register_layout(Layout("coco", "COCO JSON with polygons or RLE beside its images", detect, build))
