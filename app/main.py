"""Entry point of ``toothseg-studio``: argument parsing, QApplication, optional screenshot mode."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="toothseg-studio", description="Annotate images and correct masks.")
    p.add_argument("folder", nargs="?", help="dataset folder to open (any layout toothseg detects)")
    p.add_argument("--open", dest="open_dir", metavar="DIR", help="dataset folder to open")
    p.add_argument("--select", type=int, default=0, metavar="N", help="open the N-th sample (0-based)")
    p.add_argument("--screenshot", metavar="OUT.png", help="render the window to OUT.png and exit")
    p.add_argument("--size", default="1400x900", help="window size, e.g. 1400x900")
    p.add_argument("--self-test", action="store_true", help="check this installation end to end and exit")
    p.add_argument("--slim", action="store_true", help="with --self-test: the test of the build without PyTorch")
    return p.parse_args(argv)


def wait_for_thumbnails(window, app, timeout: float = 5.0) -> None:
    """Let background thumbnail jobs finish so a screenshot shows them."""
    deadline = time.monotonic() + timeout
    pool = window.dataset.model.thumbs.pool
    while time.monotonic() < deadline:
        app.processEvents()
        if pool.activeThreadCount() == 0 and pool.waitForDone(50):
            app.processEvents()
            break


def take_screenshot(window, app, out: str | Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    window.show()
    for _ in range(5):
        app.processEvents()
    window.canvas.fit()
    wait_for_thumbnails(window, app)
    app.processEvents()
    if not window.grab().save(str(out)):
        raise OSError(f"could not write {out}")
    return out


def install_excepthook(window) -> None:
    """Errors escaping a slot become a dialog and a log entry instead of a silent console trace."""
    from app.workers import describe, show_error

    def hook(kind, exc, tb):
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, exc, tb)
            return
        show_error(window, "ToothSeg Studio", *describe(exc.with_traceback(tb)))

    sys.excepthook = hook


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.self_test:
        from app.selftest import run_self_test

        return run_self_test(slim=True if args.slim else None)
    if args.screenshot and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from core.logs import setup_logging

    setup_logging()  # the rotating file in user data gets every line from here on (Help -> Show logs)
    from PySide6 import QtWidgets

    from app.file_open import StudioApplication, install_file_open
    from app.main_window import MainWindow
    from app.preferences_dialog import current, theme_style

    app = QtWidgets.QApplication.instance() or StudioApplication(sys.argv[:1])
    app.setApplicationName("ToothSeg Studio")
    app.setStyleSheet(theme_style(current()))
    window = MainWindow()
    from app.preload import settle_heap

    settle_heap()   # the start-up heap is permanent: later collections skip it (250 ms pauses otherwise)
    install_excepthook(window)
    install_file_open(app, window)  # macOS Finder opens .toothseg files with an event, not an argument
    try:
        w, h = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        print(f"toothseg-studio: --size must look like 1400x900, not {args.size!r}", file=sys.stderr)
        return 2
    window.resize(w, h)
    folder = args.open_dir or args.folder
    if folder and not window.open_folder(folder, select=args.select, offer_recovery=not args.screenshot):
        if args.screenshot:
            print(f"toothseg-studio: could not open {folder}", file=sys.stderr)
            return 1
    if args.screenshot:
        out = take_screenshot(window, app, args.screenshot)
        print(out)
        window.session = None  # screenshot mode never saves anything
        return 0
    window.show()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
