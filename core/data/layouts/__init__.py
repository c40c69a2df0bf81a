"""On-disk dataset layouts behind one registry with auto-detection.

Each adapter answers ``detect(root) -> bool`` cheaply and ``build(root) -> SampleIndex`` without
decoding pixels. Detection tries the most specific layouts first.
"""

from __future__ import annotations

from pathlib import Path

from core.data.layouts.base import Layout, broken_links, register_layout, registered_layouts
from core.data.sample import SampleIndex
from core.errors import LayoutError

# Importing the adapters registers them, in priority order.
from core.data.layouts import sts2d as _sts2d  # noqa: E402,F401  isort: skip
from core.data.layouts import coco as _coco  # noqa: E402,F401  isort: skip
from core.data.layouts import paired as _paired  # noqa: E402,F401  isort: skip
from core.data.layouts import suffix as _suffix  # noqa: E402,F401  isort: skip
from core.data.layouts import unlabeled as _unlabeled  # noqa: E402,F401  isort: skip

__all__ = ["Layout", "detect_layout", "load_index", "register_layout", "registered_layouts"]


def detect_layout(root: str | Path) -> Layout:
    root = Path(root)
    if not root.exists():
        raise LayoutError(f"{root}: folder not found")
    if not root.is_dir():
        raise LayoutError(f"{root}: not a folder")
    for layout in registered_layouts():
        if layout.detect(root):
            return layout
    tried = ", ".join(f"{lay.name} ({lay.description})" for lay in registered_layouts())
    broken = broken_links(root)
    note = f" Note: {', '.join(broken[:3])} cannot be followed (a symbolic link loop or a dangling link)." \
        if broken else ""
    raise LayoutError(f"{root}: no known dataset layout found.{note} Tried: {tried}")


def load_index(root: str | Path, layout: str | None = None) -> SampleIndex:
    """Index a dataset folder, auto-detecting its layout unless one is named."""
    root = Path(root).resolve()
    if layout is None:
        chosen = detect_layout(root)
    else:
        by_name = {lay.name: lay for lay in registered_layouts()}
        if layout not in by_name:
            raise LayoutError(f"unknown layout {layout!r}; known: {', '.join(by_name)}")
        chosen = by_name[layout]
    return chosen.build(root)
