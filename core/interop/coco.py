"""COCO export/import of label-map datasets and COCO mAP of predicted instances (pycocotools)."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from core.data.atomic import atomic_write_bytes, atomic_write_json
from core.data.classes import ClassDef, classes_from_values
from core.data.io import image_size, write_mask
from core.data.masks import load_mask
from core.data.project import Project
from core.data.project_classes import effective_classes
from core.data.sample import SampleIndex
from core.errors import ToothSegError
from core.interop.instances import Instance, instances_from_labels
from core.jobs import CancelToken, Progress


def encode_segmentation(mask: np.ndarray, polygons: bool = False) -> dict | list:
    """RLE (compressed, JSON-safe) or polygons of one boolean mask."""
    from pycocotools import mask as mask_utils

    if polygons:
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        return [c.reshape(-1).astype(float).tolist() for c in contours if len(c) >= 3]
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")}


def categories(classes: list[ClassDef]) -> list[dict[str, Any]]:
    return [{"id": c.value, "name": c.name, "supercategory": "", "color": c.color} for c in classes]


def instance_annotations(instances: list[Instance], image_id: int, first_id: int,
                         polygons: bool = False) -> list[dict[str, Any]]:
    anns = []
    for k, inst in enumerate(instances):
        anns.append({"id": first_id + k, "image_id": image_id, "category_id": inst.value,
                     "segmentation": encode_segmentation(inst.mask, polygons), "area": float(inst.area),
                     "bbox": [float(v) for v in inst.bbox], "iscrowd": 0, "score": inst.score})
    return anns


def export_coco(index: SampleIndex, project: Project, out: Path, polygons: bool = False, min_area: int = 1,
                progress: Progress | None = None, cancel: CancelToken | None = None) -> dict[str, Any]:
    """Write a COCO file of every labeled sample: one annotation per connected instance."""
    images, anns = [], []
    labeled = [s for s in index if s.has_mask]
    classes = effective_classes(project, index)
    for k, s in enumerate(labeled, start=1):
        if cancel:
            cancel.raise_if_cancelled("COCO export")
        w, h = image_size(s.image)
        labels = load_mask(s, (w, h))
        images.append({"id": k, "file_name": index.rel(s.image), "width": w, "height": h})
        anns += instance_annotations(instances_from_labels(labels, min_area=min_area), k, len(anns) + 1, polygons)
        if progress:
            progress(k, len(labeled), s.id)
    known = {c.value for c in classes}
    used = {a["category_id"] for a in anns}
    if not used <= known:
        classes = classes_from_values(used | known)
    coco = {"info": {"description": f"ToothSeg Studio export of {index.root.name}"}, "images": images,
            "annotations": anns, "categories": categories(classes)}
    atomic_write_json(out, coco)
    return {"images": len(images), "annotations": len(anns), "categories": len(coco["categories"]), "out": str(out)}


def import_coco(json_path: Path, dest: Path, images_root: Path | None = None,
                progress: Progress | None = None, cancel: CancelToken | None = None) -> dict[str, Any]:
    """Turn a COCO file into a paired folder: label-map PNG masks + project classes from categories.

    Images are referenced, not copied, when they already sit in ``dest/images``; otherwise they are
    copied there so that the folder is self-contained.
    """
    from core.data.layouts.coco import load_coco, rasterize

    data = load_coco(Path(json_path))
    images_root = Path(images_root or Path(json_path).parent)
    sources = []
    for entry in data["images"]:  # resolve everything first: a missing image must write nothing
        name = Path(str(entry["file_name"]))
        src = next((p for p in (images_root / name, images_root / "images" / name.name, images_root / name.name)
                    if p.is_file()), None)
        if src is None:
            raise ToothSegError(f"COCO image {name} not found under {images_root}; nothing was imported")
        sources.append((entry, src))
    written = 0
    for k, (entry, src) in enumerate(sources, start=1):
        if cancel:
            cancel.raise_if_cancelled("COCO import")
        target = dest / "images" / src.name
        if not target.exists():
            atomic_write_bytes(target, src.read_bytes())
        write_mask(dest / "masks" / f"{src.stem}.png", rasterize(Path(json_path), entry["id"]))
        written += 1
        if progress:
            progress(k, len(sources), src.name)
    project = Project.open(dest)
    cats = data.get("categories", [])
    if cats:
        palette = {c.value: c.color for c in classes_from_values({int(c["id"]) for c in cats})}
        project.classes = [ClassDef(int(c["id"]), str(c.get("name", c["id"])), palette.get(int(c["id"]), "#E69F00"))
                           for c in cats]
    project.save()
    return {"images": written, "classes": len(project.classes), "dest": str(dest)}


def coco_map(gt: dict[str, Any], detections: list[dict[str, Any]]) -> dict[str, Any]:
    """mAP@[.5:.95], mAP@.5, mAR@100 and per-class AP of segmentation detections (pycocotools)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if not detections:
        return {"map": 0.0, "map50": 0.0, "mar100": 0.0, "per_class": {}}
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = json.loads(json.dumps(gt))
        coco_gt.createIndex()
        dets = [dict(d, segmentation=dict(d["segmentation"], counts=d["segmentation"]["counts"].encode()))
                if isinstance(d["segmentation"], dict) else d for d in detections]
        coco_dt = coco_gt.loadRes(dets)
        ev = COCOeval(coco_gt, coco_dt, iouType="segm")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    precision = ev.eval["precision"]  # [T, R, K, A, M]
    per_class = {}
    for k, cat_id in enumerate(ev.params.catIds):
        p = precision[:, :, k, 0, -1]
        p = p[p > -1]
        per_class[str(cat_id)] = float(p.mean()) if p.size else float("nan")
    return {"map": float(ev.stats[0]), "map50": float(ev.stats[1]), "mar100": float(ev.stats[8]),
            "per_class": per_class}
