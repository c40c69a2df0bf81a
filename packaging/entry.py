"""Entry point of the frozen app (``ToothSegStudio``): self-test, project pointers, then the GUI.

``--self-test [--slim]`` runs ``app.selftest`` before any GUI argument parsing, so the bundle's
self-test works whatever ``app.main`` accepts. A double-clicked ``.toothseg`` file (the installers'
file association on Windows) is a small JSON *pointer* to a dataset folder (``app.pointer``); it is
turned into that folder before ``app.main.main()`` sees the arguments. macOS Finder sends no
argument but an open-document event, which ``app.file_open`` handles inside the running app.
"""

from __future__ import annotations

import multiprocessing
import sys

from app.pointer import POINTER_FORMAT, POINTER_SUFFIX, PointerError, resolve_pointer, translate_args

__all__ = ["POINTER_FORMAT", "POINTER_SUFFIX", "PointerError", "main", "resolve_pointer", "translate_args"]


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
