"""Image and mask folders paired by stem: ``images/`` + ``masks/`` (or ``masks_manual``, ``labels`` ...).

Extensions may differ (``images/7.jpg`` with ``masks/7.png``). An ``unlabeled/`` sibling folder adds
images without masks. The mask folder is chosen by name, so ``masks_colors/`` beside ``masks/`` is
ignored.
"""

from __future__ import annotations

from pathlib import Path

from core.data.layouts.base import Layout, find_child, list_images, register_layout
from core.data.sample import Sample, SampleIndex

IMAGE_DIRS = ("images", "image", "imgs", "img", "x-rays", "radiographs", "frames")
MASK_DIRS = ("masks", "mask", "masks_manual", "manual_masks", "labels", "label", "annotations_png",
             "segmentations", "gt", "ground_truth", "groundtruth")
UNLABELED_DIRS = ("unlabeled", "unlabelled", "test_unlabeled")


def _folders(root: Path) -> tuple[Path | None, Path | None]:
    return find_child(root, IMAGE_DIRS), find_child(root, MASK_DIRS)


def detect(root: Path) -> bool:
    images, masks = _folders(root)
    return images is not None and masks is not None and bool(list_images(images))


def build(root: Path) -> SampleIndex:
    images_dir, masks_dir = _folders(root)
    masks_by_stem: dict[str, Path] = {}
    for m in list_images(masks_dir):
        masks_by_stem.setdefault(m.stem, m)
        for suffix in ("_mask", "_seg", "_label", "-mask"):
            if m.stem.endswith(suffix):
                masks_by_stem.setdefault(m.stem[: -len(suffix)], m)
    samples: list[Sample] = []
    used: set[Path] = set()
    for img in list_images(images_dir):
        mask = masks_by_stem.get(img.stem)
        if mask is not None:
            used.add(mask)
        samples.append(Sample(id=img.stem, image=img, mask=mask, group=img.stem,
                              status="labeled" if mask else "unlabeled"))
    unlabeled_dir = find_child(root, UNLABELED_DIRS)
    if unlabeled_dir is not None:
        taken = {s.id for s in samples}
        for img in list_images(unlabeled_dir):
            sid = img.stem if img.stem not in taken else f"{unlabeled_dir.name}/{img.stem}"
            samples.append(Sample(id=sid, image=img, group=sid, meta={"folder": unlabeled_dir.name}))
    orphans = sorted(str(m) for m in set(masks_by_stem.values()) - used)
    return SampleIndex(root, "paired", samples, meta={
        "images_dir": str(images_dir), "masks_dir": str(masks_dir), "orphan_masks": orphans})


LAYOUT = register_layout(Layout(
    "paired", "image and mask folders paired by file stem (images/ + masks/, masks_manual/, labels/)",
    detect, build))
