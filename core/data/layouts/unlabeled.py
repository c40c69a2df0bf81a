"""A plain folder of images with no masks yet: the starting point of annotation."""

from __future__ import annotations

from pathlib import Path

from core.data.layouts.base import Layout, list_images, register_layout
from core.data.sample import Sample, SampleIndex


def detect(root: Path) -> bool:
    return bool(list_images(root))


def build(root: Path) -> SampleIndex:
    return SampleIndex(root, "unlabeled", [Sample(id=p.stem, image=p, group=p.stem) for p in list_images(root)])


LAYOUT = register_layout(Layout("unlabeled", "a folder of images without masks", detect, build))
