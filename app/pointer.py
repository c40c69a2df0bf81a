"""``.toothseg`` project pointer files: what the installers associate with the app.

A project lives in its dataset folder, so the file a user double-clicks is a small JSON *pointer*
to that folder. Qt-free: the frozen entry point resolves pointers passed as arguments (Windows,
Linux) before Qt starts, and ``app.file_open`` resolves those macOS Finder sends as open events.
"""

from __future__ import annotations

import json
from pathlib import Path

POINTER_SUFFIX = ".toothseg"
POINTER_FORMAT = "toothseg-pointer"


class PointerError(ValueError):
    """A .toothseg file that cannot be followed (the message says why)."""


def resolve_pointer(path: str | Path) -> Path:
    """The dataset folder a ``.toothseg`` pointer names.

    The file holds ``{"format": "toothseg-pointer", "version": 1, "dataset": "<folder>"}``; a relative
    folder is taken from the pointer's own folder, and an empty file means "the folder I sit in", so
    dropping ``Study.toothseg`` into a dataset folder is enough to open it by double-click.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise PointerError(f"{path}: cannot read the project pointer ({exc.strerror or exc})") from exc
    if not text:
        return path.resolve().parent
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PointerError(f"{path}: not a ToothSeg project pointer (invalid JSON: {exc.msg})") from exc
    if not isinstance(data, dict) or data.get("format") != POINTER_FORMAT or not isinstance(data.get("dataset"), str):
        raise PointerError(f"{path}: not a ToothSeg project pointer (needs format {POINTER_FORMAT!r} and a dataset)")
    folder = Path(data["dataset"]).expanduser()
    folder = folder if folder.is_absolute() else path.resolve().parent / folder
    if not folder.is_dir():
        raise PointerError(f"{path}: the dataset folder {folder} does not exist (moved or on a drive not connected?)")
    return folder


def is_pointer(path: str | Path) -> bool:
    return str(path).lower().endswith(POINTER_SUFFIX) and Path(path).is_file()


def translate_args(argv: list[str]) -> list[str]:
    """Replace a ``.toothseg`` pointer argument by the dataset folder it names."""
    return [str(resolve_pointer(a)) if is_pointer(a) else a for a in argv]
