"""The box tool learns from the user's labels: after Train on my labels' model is active (and after its
interval estimate, so the two never share the cores), LiteMedSAM's decoder is fine-tuned on the labels in
its own one-thread pool at idle priority (``core.prompt.tune_on_labels``), with a status-bar item (progress
and a Cancel button). It is kept only when it beats the shipped decoder on held-out labeled groups; the
result line says which. Train on my labels stops it first; closing the window cancels it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import shiboken6
from PySide6 import QtCore, QtWidgets

from app.workers import Job, show_error

log = logging.getLogger("toothseg.app.boxtune")

BUDGET_S = 180.0   # wall seconds at idle priority; encoding stops at ~55% of it, training at ~85%


class BackgroundBoxTuner(QtCore.QObject):
    """Owns the job and its status-bar widget; ``tuned`` carries the figures (core's result dict)."""

    tuned = QtCore.Signal(dict)
    stopped = QtCore.Signal(str)          # cancelled or failed, in words

    def __init__(self, window: QtWidgets.QMainWindow, budget_s: float = BUDGET_S):
        super().__init__(window)
        self.w = window
        self.budget_s = budget_s
        self.options: dict = {}            # extra tune_on_labels arguments (tests: steps, min_gain)
        self.job: Job | None = None
        self.then: list[Callable[[], None]] = []
        self.pool = QtCore.QThreadPool(self)
        self.pool.setMaxThreadCount(1)     # its thread is lowered to idle priority for good
        self.widget = QtWidgets.QWidget()
        self.widget.setObjectName("boxTuneStatus")
        lay = QtWidgets.QHBoxLayout(self.widget)
        lay.setContentsMargins(0, 0, 0, 0)
        self.label = QtWidgets.QLabel("")
        self.label.setObjectName("boxTuneLabel")
        self.button = QtWidgets.QToolButton()
        self.button.setObjectName("boxTuneCancel")
        self.button.setText("Cancel")
        self.button.setToolTip("Stop tuning the box tool; it keeps the decoder it has")
        self.button.clicked.connect(lambda: self.cancel())  # (clicked passes a bool)
        # a long status message must not squeeze the item to "Tunin" / "C...l"
        self.label.setMinimumWidth(self.label.fontMetrics().horizontalAdvance("Tuning the box tool: 999/999") + 8)
        self.button.setMinimumWidth(self.button.fontMetrics().horizontalAdvance("Cancel") + 16)
        lay.addWidget(self.label)
        lay.addWidget(self.button)
        window.statusBar().addPermanentWidget(self.widget)
        self.widget.setVisible(False)
        window.installEventFilter(self)

    def eventFilter(self, obj, ev) -> bool:  # noqa: N802 (Qt API)
        if obj is self.w and ev.type() == QtCore.QEvent.Type.Close:
            self.cancel()
        return False

    @property
    def running(self) -> bool:
        return self.job is not None

    def start(self, root: str | Path) -> bool:
        """Tune the box tool on ``root``'s labels in the background; False when one already runs."""
        from core.prompt.tune_on_labels import tune_on_labels

        if self.job is not None:
            return False
        job = Job(tune_on_labels, str(root), **{"budget_s": self.budget_s, "idle": True, "convert": False, **self.options})
        job.signals.progress.connect(self._progress)
        job.signals.done.connect(self._done)
        job.signals.failed.connect(self._failed)
        job.signals.cancelled.connect(lambda _m: self._finish("cancelled; the box tool keeps its decoder"))
        self.job = job
        self.label.setText("Tuning the box tool…")
        self.label.setToolTip("LiteMedSAM's decoder fine-tuned on your labels at idle priority; kept only if it "
                              "beats the shipped one on held-out labeled images")
        self.widget.setVisible(True)
        self.button.setEnabled(True)
        self.pool.start(job)
        log.info("box tool tuning started on %s", root)
        return True

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel_token.cancel()
            self.button.setEnabled(False)
            self.label.setText("Stopping the box tool's tuning…")

    def stop_then(self, action: Callable[[], None]) -> bool:
        """Cancel a running tuning and call ``action`` once it has stopped; False when nothing runs."""
        if self.job is None:
            return False
        self.then.append(action)
        self.cancel()
        return True

    # ------------------------------------------------------------------ job results (UI thread)
    def _progress(self, done: int, total: int, text: str) -> None:
        self.label.setText(f"Tuning the box tool: {done}/{total}")
        self.label.setToolTip(text)

    def _hide(self) -> None:
        """Hide the status-bar item, unless the window (and with it the item) is already gone: a tuning
        that finishes after the window closed must not raise in Qt's event loop."""
        if shiboken6.isValid(self.widget):
            self.widget.setVisible(False)

    def _done(self, result: dict) -> None:
        self.job = None
        if not shiboken6.isValid(self):      # the window closed while it ran: nobody to tell
            return
        self._hide()
        self.tuned.emit(result)
        self._then()

    def _failed(self, message: str, details: str) -> None:
        show_error(self.w, "Tuning the box tool", message, details)
        self._finish(f"failed ({message})")

    def _finish(self, why: str) -> None:
        self.job = None
        if not shiboken6.isValid(self):
            return
        self._hide()
        self.stopped.emit(f"Box tool tuning {why}")
        self._then()

    def _then(self) -> None:
        actions, self.then = self.then, []
        for action in actions:
            action()
