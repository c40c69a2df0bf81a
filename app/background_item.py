"""One status-bar item for a job that runs while the user works (background pretraining, the interval
estimate, the box tool's tuning): a label and one button (Cancel), the job in its own one-thread pool,
and "stop it, then do this" for whoever needs the cores next (Train on my labels).

A user subclasses ``BackgroundItem``, builds its ``Job``, connects the job's signals to its own handlers,
calls ``launch(job, text)``, and ends every handler with ``end()`` ... ``run_then()``::

    def _done(self, result):
        if self.end(hide=True):     # False: the window closed while the job ran, nobody to tell
            ...                     # show or keep the result
            self.run_then()         # e.g. the training that waited for this job
"""

from __future__ import annotations

from collections.abc import Callable

import shiboken6
from PySide6 import QtCore, QtWidgets

from app.workers import Job


class BackgroundItem(QtCore.QObject):
    """Owns the running job (``job``, ``running``), the status-bar ``widget`` with its ``label`` and
    ``button``, and the actions waiting for the job to stop (``stop_then``)."""

    def __init__(self, window: QtWidgets.QMainWindow, name: str, *, stopping: str, button_name: str = "",
                 button_tip: str = "", widest_label: str = "", widest_button: str = "Cancel"):
        """``name`` prefixes the widgets' object names (``<name>Status``, ``<name>Label``, and ``button_name``
        or ``<name>Cancel``); ``stopping`` is the label while a cancelled job winds down; ``widest_label`` /
        ``widest_button`` keep a long status message from squeezing the item to "Tunin" / "C...l"."""
        super().__init__(window)
        self.w = window
        self.stopping = stopping
        self.job: Job | None = None
        self.then: list[Callable[[], None]] = []
        self.pool = QtCore.QThreadPool(self)
        self.pool.setMaxThreadCount(1)     # a job lowers its thread to idle priority for good
        self.widget = QtWidgets.QWidget()
        self.widget.setObjectName(f"{name}Status")
        lay = QtWidgets.QHBoxLayout(self.widget)
        lay.setContentsMargins(0, 0, 0, 0)
        self.label = QtWidgets.QLabel("")
        self.label.setObjectName(f"{name}Label")
        self.button = QtWidgets.QToolButton()
        self.button.setObjectName(button_name or f"{name}Cancel")
        self.button.setText("Cancel")
        self.button.setToolTip(button_tip)
        self.button.clicked.connect(lambda: self.button_clicked())  # (clicked passes a bool)
        if widest_label:
            self.label.setMinimumWidth(self.label.fontMetrics().horizontalAdvance(widest_label) + 8)
        self.button.setMinimumWidth(self.button.fontMetrics().horizontalAdvance(widest_button) + 16)
        lay.addWidget(self.label)
        lay.addWidget(self.button)
        window.statusBar().addPermanentWidget(self.widget)
        self.widget.setVisible(False)
        window.installEventFilter(self)

    def eventFilter(self, obj, ev) -> bool:  # noqa: N802 (Qt API)
        if obj is self.w and ev.type() == QtCore.QEvent.Type.Close:
            self.window_closing()
        return False

    @property
    def running(self) -> bool:
        return self.job is not None

    # ------------------------------------------------------------------ what a user may change
    def button_clicked(self) -> None:
        self.cancel()

    def window_closing(self) -> None:
        """Closing the window stops the job (what it finished is kept by its own handlers)."""
        self.cancel()

    # ------------------------------------------------------------------ the job's life
    def launch(self, job: Job, text: str, tip: str | None = None) -> None:
        """Start ``job`` (its signals already connected) and show the item: ``text`` on the label, Cancel
        enabled."""
        self.job = job
        self.label.setText(text)
        if tip is not None:
            self.label.setToolTip(tip)
        self.button.setEnabled(True)
        self.widget.setVisible(True)
        self.pool.start(job)

    def cancel(self) -> None:
        """Ask the running job to stop; its cancelled / done signal follows once it has."""
        if self.job is not None:
            self.job.cancel_token.cancel()
            self.button.setEnabled(False)
            self.label.setText(self.stopping)

    def stop_then(self, action: Callable[[], None]) -> bool:
        """Cancel the running job and call ``action`` once it has stopped (at ``run_then``); False, and
        ``action`` not called, when nothing runs."""
        if self.job is None:
            return False
        self.then.append(action)
        self.cancel()
        return True

    def end(self, hide: bool = False) -> bool:
        """The job is over (done, cancelled or failed): forget it, enable the button again, ``hide`` the
        item. False when the window (and with it the item) is already gone: then nothing may be shown."""
        self.job = None
        if not shiboken6.isValid(self) or not shiboken6.isValid(self.widget):
            return False
        self.button.setEnabled(True)
        if hide:
            self.widget.setVisible(False)
        return True

    def run_then(self, run: bool = True) -> None:
        """Call the actions that waited for the job to stop (``run`` False: drop them)."""
        actions, self.then = self.then, []
        for action in actions if run else ():
            action()
