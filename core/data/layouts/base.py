"""The layout adapter protocol and its registry."""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.data.io import is_image_file
from core.data.sample import SampleIndex
from core.errors import LayoutError


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
    """Image files directly in ``folder``, sorted naturally (2.png before 10.png); no decoding.

    Entries that cannot be followed (a symbolic link loop, a dangling link) are not images and are
    left out; a folder that cannot be listed at all raises LayoutError naming it.
    """
    entries = [Path(e.path) for e in _scan(folder) if is_image_file(Path(e.name)) and _is(e.is_file)]
    return sorted(entries, key=natural_key)


def subdirs(folder: Path) -> list[Path]:
    return sorted(Path(e.path) for e in _scan(folder) if not e.name.startswith(".") and _is(e.is_dir))


def _scan(folder: Path) -> list[os.DirEntry]:
    """The entries of ``folder``; [] when it is missing or not a folder, LayoutError when unreadable."""
    try:
        with os.scandir(folder) as it:
            return list(it)
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise LayoutError(f"{folder}: symbolic link loop (the link points back to itself); "
                              "remove or fix the link") from exc
        raise LayoutError(f"{folder}: cannot list the folder ({exc.strerror or exc})") from exc


def broken_links(folder: Path) -> list[str]:
    """Names of the symbolic links directly in ``folder`` that lead nowhere (loops, dangling targets)."""
    out = []
    for e in _scan(folder):
        if e.is_symlink() and not os.path.exists(e.path):
            out.append(e.name)
    return sorted(out)


def _is(test: Callable[[], bool]) -> bool:
    """``DirEntry.is_file``/``is_dir``, False for entries that cannot be followed (ELOOP, EACCES)."""
    try:
        return test()
    except OSError:
        return False


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
