"""macOS Finder's "open this document" events (``QFileOpenEvent``) open the dataset in the window.

Finder starts an app for a double-clicked ``.toothseg`` file (or one dropped on the Dock icon) without
a command-line argument: it sends an open-document event, which Qt delivers to the QApplication as
``QEvent.FileOpen``, also to an app already running. PyInstaller's argv emulation stays off (it
misses events that arrive after start-up), so this handler is how the association works on macOS.

The event goes to the application object, so ``StudioApplication.event`` hears it; an application event
filter would instead run Python for every event of every widget (thousands per folder open, each taking
the GIL from busy workers: the UI thread's stalls of issue 19).
"""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtCore, QtWidgets

from app.pointer import PointerError, is_pointer, resolve_pointer
from app.workers import show_error


class StudioApplication(QtWidgets.QApplication):
    """The app's QApplication: hands FileOpen events to ``file_open_handler`` when one is installed."""

    file_open_handler: FileOpenFilter | None = None

    def event(self, event: QtCore.QEvent) -> bool:
        if event.type() == QtCore.QEvent.Type.FileOpen and self.file_open_handler is not None:
            return self.file_open_handler.eventFilter(self, event)
        return super().event(event)


class FileOpenFilter(QtCore.QObject):
    """A FileOpen event naming a pointer or a folder opens it in ``window``."""

    def __init__(self, window: QtWidgets.QMainWindow):
        super().__init__(window)
        self.window = window
        self.opened: list[Path] = []  # dataset folders opened this way, in order

    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:  # noqa: N802 (Qt API)
        if event.type() != QtCore.QEvent.Type.FileOpen:
            return False
        path = event.file() or event.url().toLocalFile()
        if path:
            self.open(path)
        return True

    def open(self, path: str | Path) -> bool:
        """Open the dataset a ``.toothseg`` pointer names, or a folder itself; a clear message otherwise."""
        path = Path(path)
        try:
            folder = resolve_pointer(path) if is_pointer(path) else path
            if not folder.is_dir():
                raise PointerError(f"{path.name}: ToothSeg Studio opens dataset folders and .toothseg "
                                   "project files, not other files")
        except PointerError as exc:
            show_error(self.window, "Open", str(exc))
            return False
        if not self.window.open_folder(folder):  # the window reports its own errors
            return False
        self.opened.append(folder)
        self.window.raise_()
        self.window.activateWindow()
        return True


def install_file_open(app: QtWidgets.QApplication, window: QtWidgets.QMainWindow) -> FileOpenFilter:
    """Route the application's FileOpen events to ``window`` (call before ``app.exec()``); an application
    made elsewhere (not a ``StudioApplication``) gets an event filter instead."""
    handler = FileOpenFilter(window)
    if isinstance(app, StudioApplication):
        app.file_open_handler = handler
    else:
        app.installEventFilter(handler)
    return handler

