"""Folder opening and image switching off the UI thread, with a visible loading state.

Building the sample index, guessing classes from masks, decoding an image and colouring its mask take
from tens of milliseconds to seconds; they run in this module's own one-thread pool (so a training
job in the global pool never delays a switch) while the canvas shows "Loading ..." and refuses edits.
Only the newest request counts: an older one that finishes later is dropped (a folder opened for
nothing is closed again, releasing its lock). Every failure reaches the user as a dialog.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6 import QtCore, QtWidgets

from app.workers import Job, describe, show_error

log = logging.getLogger("toothseg.app.loading")


class Loader(QtCore.QObject):
    """Runs one kind of request at a time per window; ``wait()`` lets scripts and tests block politely
    (a local event loop: the window keeps repainting while they wait)."""

    settled = QtCore.Signal()      # nothing is loading any more

    def __init__(self, parent: QtWidgets.QWidget, on_busy: Callable[[str | None], None]):
        super().__init__(parent)
        self.parent_widget = parent
        self.on_busy = on_busy
        self.pool = QtCore.QThreadPool(self)
        self.pool.setMaxThreadCount(1)    # one decode at a time leaves the UI thread a core on a 2-core laptop
        self.generation = 0
        self.pending = 0                # requests of the current generation not finished yet
        self._jobs: set[Job] = set()
        self._queued: Job | None = None

    @property
    def busy(self) -> bool:
        return self.pending > 0

    def request(self, title: str, notice: str, fn: Callable[..., Any], *args: Any,
                on_done: Callable[[Any], None], on_failed: Callable[[], None] | None = None,
                on_stale: Callable[[Any], None] | None = None) -> None:
        """Run ``fn(*args)`` in the pool; ``on_done(result)`` on the UI thread unless a newer request
        superseded it (then ``on_stale(result)``). A request made inside ``on_done`` (the first image
        after a folder) keeps the window busy until it is done too."""
        self.generation += 1
        self.pending = 0
        if self._queued is not None and self.pool.tryTake(self._queued):   # never started: forget it
            self._jobs.discard(self._queued)
        generation = self.generation
        self.pending += 1
        self.on_busy(notice)
        job = Job(fn, *args)
        self._jobs.add(job)
        self._queued = job

        def finish() -> None:
            self._jobs.discard(job)
            # the pool keeps every started QRunnable (PySide holds it for Qt): let it hold nothing
            job.fn, job.args, job.kwargs = None, (), {}
            job.signals.deleteLater()       # and drop the connections, whose closures see the session
            if self._queued is job:
                self._queued = None
            self._one_done(generation)

        def done(result: Any) -> None:
            if generation != self.generation:
                if on_stale is not None:
                    on_stale(result)
            else:
                try:
                    on_done(result)
                except Exception as exc:   # a bug in the UI part still reaches the user
                    show_error(self.parent_widget, title, *describe(exc))
            finish()

        def failed(message: str, details: str) -> None:
            if generation == self.generation:
                show_error(self.parent_widget, title, message, details)
                if on_failed is not None:
                    on_failed()
            else:
                log.info("%s (superseded): %s", title, message)
            finish()

        job.signals.done.connect(done)
        job.signals.failed.connect(failed)
        job.signals.cancelled.connect(lambda _m: failed("Cancelled", ""))
        self.pool.start(job)

    def defer(self, title: str, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the UI thread in a later event-loop turn as part of the current request (the
        window stays busy and ``wait`` waits for it): a long UI step split in two lets the window repaint
        between the halves. Dropped if a newer request came first; a request made by ``fn`` carries on."""
        generation = self.generation
        self.pending += 1

        def run() -> None:
            if generation != self.generation:
                return
            try:
                fn()
            except Exception as exc:   # a bug in the UI part still reaches the user
                show_error(self.parent_widget, title, *describe(exc))
            self._one_done(generation)          # unless fn started the next request: it owns the busy state

        QtCore.QTimer.singleShot(0, self, run)

    def _one_done(self, generation: int) -> None:
        """One part of request ``generation`` finished; the last one ends the busy state."""
        if generation != self.generation:
            return
        self.pending -= 1
        if self.pending <= 0:
            self.pending = 0
            self.on_busy(None)
            self.settled.emit()

    def wait(self) -> None:
        """Return once nothing is loading, processing events meanwhile."""
        if not self.busy:
            return
        loop = QtCore.QEventLoop()
        self.settled.connect(loop.quit)
        try:
            if self.busy:
                loop.exec()
        finally:
            self.settled.disconnect(loop.quit)

    def stop(self) -> None:
        """Forget every request (the window closes); running decodes finish unseen."""
        self.generation += 1
        self.pending = 0
        self.pool.clear()
