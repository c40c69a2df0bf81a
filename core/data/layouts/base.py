"""The layout adapter protocol and its registry."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.data.io import is_image_file
from core.data.sample import SampleIndex


@dataclass(frozen=True)
class Layout:
    name: str
    description: str
    detect: Callable[[Path], bool]
    build: Callable[[Path], SampleIndex]


_REGISTRY: list[Layout] = []


def register_layout(layout: Layout) -> Layout:
    if any(existing.name == layout.name for existing in _REGISTRY):
        raise ValueError(f"layout {layout.name!r} registered twice")
    _REGISTRY.append(layout)
    return layout


def registered_layouts() -> list[Layout]:
    return list(_REGISTRY)


def list_images(folder: Path) -> list[Path]:
    """Image files directly in ``folder``, sorted naturally (2.png before 10.png); no decoding."""
    try:
        entries = [Path(e.path) for e in os.scandir(folder) if e.is_file() and is_image_file(Path(e.name))]
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(entries, key=natural_key)


def subdirs(folder: Path) -> list[Path]:
    try:
        return sorted(Path(e.path) for e in os.scandir(folder) if e.is_dir() and not e.name.startswith("."))
    except (FileNotFoundError, NotADirectoryError):
        return []


_NUM = re.compile(r"(\d+)")


def natural_key(path: Path | str) -> list:
    name = Path(path).name.lower()
    return [int(tok) if tok.isdigit() else tok for tok in _NUM.split(name)]


def find_child(folder: Path, names: tuple[str, ...]) -> Path | None:
    """The first child folder whose lower-cased name is in ``names`` (case-insensitive lookup)."""
    wanted = {n.lower(): i for i, n in enumerate(names)}
    best: tuple[int, Path] | None = None
    for child in subdirs(folder):
        rank = wanted.get(child.name.lower())
        if rank is not None and (best is None or rank < best[0]):
            best = (rank, child)
    return best[1] if best else None
