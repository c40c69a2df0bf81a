"""The box tool learns from the user's labels: after Train on my labels' model is active (and after its
interval estimate, so the two never share the cores), LiteMedSAM's decoder is fine-tuned on the labels in
its own one-thread pool at idle priority (``core.prompt.tune_on_labels``), with a status-bar item (progress
and a Cancel button). It is kept only when it beats the shipped decoder on held-out labeled groups; the
result line says which. Train on my labels stops it first; closing the window cancels it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from app.background_item import BackgroundItem
from app.workers import Job, show_error
from core.prompt.tune_on_labels import BUDGET_CPU_S

log = logging.getLogger("toothseg.app.boxtune")

# a cap in the tuning thread's CPU seconds (core's BUDGET_CPU_S), not wall time: at idle priority on a busy
# machine the job takes longer but still does its 200 steps; encoding stops at ~55% of it, training at ~85%
BUDGET_S = BUDGET_CPU_S


class BackgroundBoxTuner(BackgroundItem):
    """Owns the job and its status-bar item; ``tuned`` carries the figures (core's result dict)."""

    tuned = QtCore.Signal(dict)
    stopped = QtCore.Signal(str)          # cancelled or failed, in words

    def __init__(self, window: QtWidgets.QMainWindow, budget_s: float = BUDGET_S):
        super().__init__(window, "boxTune", stopping="Stopping the box tool's tuning…",
                         button_tip="Stop tuning the box tool; it keeps the decoder it has",
                         widest_label="Tuning the box tool: 999/999")
        self.budget_s = budget_s
        self.options: dict = {}            # extra tune_on_labels arguments (tests: steps, min_gain)

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
        self.launch(job, "Tuning the box tool…",
                    "LiteMedSAM's decoder fine-tuned on your labels at idle priority; kept only if it beats the "
                    "shipped one on held-out labeled images")
        log.info("box tool tuning started on %s", root)
        return True

    # ------------------------------------------------------------------ job results (UI thread)
    def _progress(self, done: int, total: int, text: str) -> None:
        self.label.setText(f"Tuning the box tool: {done}/{total}")
        self.label.setToolTip(text)

    def _done(self, result: dict) -> None:
        if self.end(hide=True):      # else the window closed while it ran: nobody to tell
            self.tuned.emit(result)
            self.run_then()

    def _failed(self, message: str, details: str) -> None:
        show_error(self.w, "Tuning the box tool", message, details)
        self._finish(f"failed ({message})")

    def _finish(self, why: str) -> None:
        if self.end(hide=True):
            self.stopped.emit(f"Box tool tuning {why}")
            self.run_then()
