"""Running core jobs off the UI thread: progress callbacks and CancelToken become queued Qt signals.

Every failure reaches the user: ToothSegError messages are shown as they are, anything else as
"unexpected error" with the traceback under Details, and everything is written to the log.
"""

from __future__ import annotations

import inspect
import logging
import traceback
from collections.abc import Callable
from typing import Any

from PySide6 import QtCore, QtWidgets

from core.errors import CancelledError, ToothSegError
from core.jobs import CancelToken

log = logging.getLogger("toothseg.app")


def show_error(parent: QtWidgets.QWidget | None, title: str, message: str, details: str = "") -> QtWidgets.QMessageBox:
    """Log the error and show it in a window-modal box that does not block the event loop."""
    log.error("%s: %s%s", title, message, f"\n{details}" if details else "")
    box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Critical, title, message,
                                QtWidgets.QMessageBox.StandardButton.Ok, parent)
    box.setObjectName("errorBox")
    if details:
        box.setDetailedText(details)
    box.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box


def describe(exc: BaseException) -> tuple[str, str]:
    """(message, details) for an exception: user errors plainly, bugs with their traceback."""
    if isinstance(exc, ToothSegError):
        return str(exc), ""
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return f"Unexpected error: {type(exc).__name__}: {exc}", tb


class JobSignals(QtCore.QObject):
    progress = QtCore.Signal(int, int, str)
    done = QtCore.Signal(object)
    failed = QtCore.Signal(str, str)
    cancelled = QtCore.Signal(str)


class Job(QtCore.QRunnable):
    """Runs ``fn(*args, **kwargs)`` in the thread pool, passing ``progress``/``cancel`` when it takes them."""

    def __init__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any):
        super().__init__()
        self.setAutoDelete(False)
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.signals = JobSignals()
        self.cancel_token = CancelToken()
        self.deferred = False   # started after the window painted (``run_job(paint_first=True)``)
        try:
            params = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            params = {}
        if "progress" in params:
            self.kwargs.setdefault("progress", self._progress)
        if "cancel" in params:
            self.kwargs.setdefault("cancel", self.cancel_token)

    def _progress(self, done: int, total: int, message: str = "") -> None:
        self.signals.progress.emit(int(done), int(total), str(message))

    def run(self) -> None:
        if self.deferred and self.cancel_token.cancelled:  # cancelled before its deferred start: never begins
            self.signals.cancelled.emit("cancelled before it started")
            return
        try:
            result = self.fn(*self.args, **self.kwargs)
        except CancelledError as exc:
            self.signals.cancelled.emit(str(exc))
        except Exception as exc:  # every failure is reported, never swallowed
            self.signals.failed.emit(*describe(exc))
        else:
            self.signals.done.emit(result)


_running: set[Job] = set()
PAINT_FIRST_MS = 60   # a first paint of a panel with plots takes ~25 ms of UI-thread CPU


def _finished(*_args: Any, **_kwargs: Any) -> None:
    """What a finished job's ``fn`` becomes: its real function and arguments are let go."""


def run_job(parent: QtWidgets.QWidget | None, title: str, fn: Callable[..., Any], *args: Any,
            on_done: Callable[[Any], None] | None = None, progress_dialog: bool = True,
            on_failed: Callable[[], None] | None = None, paint_first: bool = False, **kwargs: Any) -> Job:
    """Start ``fn`` in the global thread pool; optional progress dialog whose Cancel sets the token.
    A failure is always shown to the user; ``on_failed`` then lets the caller reset its own state.

    ``paint_first``: start the worker PAINT_FIRST_MS later, so the window paints its answer to the click
    (a raised panel, its first plot) before a worker's Python competes for the GIL; otherwise the two
    share it and a 25 ms paint took 50-90 ms (issue 19's first Train)."""
    job = Job(fn, *args, **kwargs)
    dialog = None
    if progress_dialog:
        dialog = QtWidgets.QProgressDialog(title, "Cancel", 0, 0, parent)
        dialog.setObjectName("jobProgress")
        dialog.setWindowTitle(title)
        dialog.setWindowModality(QtCore.Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(300)
        dialog.canceled.connect(job.cancel_token.cancel)

        def on_progress(done: int, total: int, message: str) -> None:
            dialog.setMaximum(max(total, 0))
            dialog.setValue(min(done, total) if total else 0)
            if message:
                dialog.setLabelText(f"{title}\n{message}")

        job.signals.progress.connect(on_progress)

    def finish() -> None:
        _running.discard(job)
        # Qt's pool keeps every started runnable (PySide holds it): let it hold nothing, or the arguments
        # (a session, images, a model) stay alive with every finished job
        job.fn, job.args, job.kwargs = _finished, (), {}
        if dialog is not None:
            dialog.reset()
            dialog.deleteLater()

    def done(result: Any) -> None:
        finish()
        if on_done is not None:
            try:
                on_done(result)
            except Exception as exc:
                show_error(parent, title, *describe(exc))

    def failed(message: str, details: str) -> None:
        finish()
        show_error(parent, title, message, details)
        if on_failed is not None:
            on_failed()

    def cancelled(message: str) -> None:
        finish()
        log.info("%s: %s", title, message)

    job.signals.done.connect(done)
    job.signals.failed.connect(failed)
    job.signals.cancelled.connect(cancelled)
    _running.add(job)
    if paint_first:
        job.deferred = True
        QtCore.QTimer.singleShot(PAINT_FIRST_MS, lambda: QtCore.QThreadPool.globalInstance().start(job))
    else:
        QtCore.QThreadPool.globalInstance().start(job)
    return job
