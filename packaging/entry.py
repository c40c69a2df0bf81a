"""Entry point of the frozen app (``ToothSegStudio``): self-test, project pointers, then the GUI.

``--self-test [--slim]`` runs ``app.selftest`` before any GUI argument parsing, so the bundle's
self-test works whatever ``app.main`` accepts. A double-clicked ``.toothseg`` file (the installers'
file association) is a small JSON *pointer* to a dataset folder; it is turned into that folder
before ``app.main.main()`` sees the arguments.
"""

from __future__ import annotations

import json
import multiprocessing
import sys
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


def translate_args(argv: list[str]) -> list[str]:
    """Replace a ``.toothseg`` pointer argument by the dataset folder it names."""
    return [str(resolve_pointer(a)) if a.lower().endswith(POINTER_SUFFIX) and Path(a).is_file() else a for a in argv]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--self-test" in argv:
        from app.selftest import run_self_test

        return run_self_test(slim=True if "--slim" in argv else None)
    try:
        argv = translate_args(argv)
    except PointerError as exc:
        _show_error(str(exc))
        return 2
    from app.main import main as app_main

    return int(app_main(argv) or 0)


def _show_error(text: str) -> None:
    """A message box: a double-clicked file has no terminal to print to."""
    if sys.stderr is not None:  # None in a windowed Windows program
        print(f"toothseg-studio: {text}", file=sys.stderr)
    try:
        from PySide6 import QtWidgets

        app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
        QtWidgets.QMessageBox.critical(None, "ToothSeg Studio", text)
        del app
    except Exception:  # no display at all: stderr above is all we can do
        pass


if __name__ == "__main__":
    multiprocessing.freeze_support()  # DataLoader workers re-enter the frozen executable on Windows/macOS
    sys.exit(main())
