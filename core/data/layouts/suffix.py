"""One folder where masks sit beside their images with a ``_mask`` / ``_seg`` / ``_label`` suffix."""

from __future__ import annotations

from pathlib import Path

from core.data.layouts.base import Layout, list_images, register_layout
from core.data.sample import Sample, SampleIndex

SUFFIXES = ("_mask", "_seg", "_label", "_labels", "_gt", "-mask")


def _split_suffix(stem: str) -> tuple[str, str] | None:
    low = stem.lower()
    for suffix in SUFFIXES:
        if low.endswith(suffix) and len(stem) > len(suffix):
            return stem[: -len(suffix)], suffix
    return None


def detect(root: Path) -> bool:
    files = list_images(root)
    return any(_split_suffix(f.stem) for f in files) and any(not _split_suffix(f.stem) for f in files)


def build(root: Path) -> SampleIndex:
    files = list_images(root)
    masks: dict[str, Path] = {}
    images: list[Path] = []
    for f in files:
        parts = _split_suffix(f.stem)
        if parts:
            masks.setdefault(parts[0], f)
        else:
            images.append(f)
    samples = [Sample(id=img.stem, image=img, mask=masks.get(img.stem), group=img.stem,
                      status="labeled" if img.stem in masks else "unlabeled") for img in images]
    stems = {img.stem for img in images}
    orphans = sorted(str(p) for base, p in masks.items() if base not in stems)
    return SampleIndex(root, "suffix", samples, meta={"orphan_masks": orphans})


LAYOUT = register_layout(Layout(
    "suffix", "one folder with masks named <image>_mask / _seg / _label", detect, build))
