"""The interval of a just-trained model, measured after it is active: cross-validation over groups in its
own one-thread pool at idle priority (``core.hitl.measure_later``), with a status-bar item (fold
progress and a Cancel button). Train on my labels stops it first; closing the window cancels it.
Until it is done the model's Dice reads "estimating…" in the training result and the model library.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from app.background_item import BackgroundItem
from app.workers import Job, show_error
from core.hitl import measure_later
from core.train.events import TrainEvents

log = logging.getLogger("toothseg.app.measure")


class _Signals(QtCore.QObject):
    line = QtCore.Signal(str)


class _Events(TrainEvents):
    """Only the fold lines reach the status bar (the folds' epochs would flood it)."""

    def __init__(self, signals: _Signals):
        self.signals = signals

    def on_log(self, message: str) -> None:
        if message.startswith("cross-validation fold"):
            self.signals.line.emit(message)


class BackgroundMeasurer(BackgroundItem):
    """Owns the job, its status-bar item and the hand-over of its figures to the project."""

    measured = QtCore.Signal(str, dict)    # model name, its val_* metrics (after the project was saved)

    def __init__(self, window: QtWidgets.QMainWindow):
        super().__init__(window, "measure", stopping="Stopping the interval estimate…",
                         button_tip="Stop estimating the interval; the model stays active, with its validation "
                                    "split's own figure")
        self.record = True                 # a cancel is written into the model's figures (not on window close)
        self.target: tuple = ()            # (project, model name, run dir) of the running job
        self.signals = _Signals()
        self.signals.line.connect(self._line)

    def window_closing(self) -> None:
        """Closing the window stops the folds without a verdict: the plan stays, the next session resumes it."""
        self.cancel(record=False)

    def resume(self, project) -> bool:
        """Measure the active model of ``project`` when its interval is still pending (the app was closed
        while it ran); False when there is nothing to do."""
        from core.hitl.model_files import model_path

        entry = project.model(project.active_model) if project.active_model else None
        path = model_path(project, entry) if entry is not None else None
        return path is not None and self.start(project, entry.name, path.parent)

    def start(self, project, name: str, run_dir: str | Path) -> bool:
        """Measure model ``name`` of ``project`` in the background; False when it has nothing pending."""
        if self.job is not None or measure_later.pending(run_dir) is None:
            return False
        self.record = True
        job = Job(measure_later.measure, str(run_dir), events=_Events(self.signals), idle=True)
        job.signals.done.connect(self._done)
        job.signals.failed.connect(self._failed)
        job.signals.cancelled.connect(lambda _m: self._not_measured("cancelled"))
        self.target = (project, name, Path(run_dir))
        self.launch(job, "Estimating the interval…",
                    f"Cross-validation over groups of {name}, at idle priority; the model is already active")
        log.info("cross-validation of %s started in the background", name)
        return True

    def cancel(self, record: bool = True) -> None:
        """Stop the folds; ``record``: the model's figures then say the interval was not estimated (else the
        plan stays for a later session)."""
        if self.job is not None:
            self.record = self.record and record
        super().cancel()

    # ------------------------------------------------------------------ job results (UI thread)
    def _line(self, text: str) -> None:
        self.label.setText(f"Estimating the interval: {text.removeprefix('cross-validation ').split(':')[0]}")
        self.label.setToolTip(f"{self.target[1] if self.target else ''}: {text}")

    def _done(self, metrics: dict) -> None:
        self._finish(metrics)

    def _failed(self, message: str, details: str) -> None:
        show_error(self.w, "Estimating the interval", message, details)
        self._not_measured(f"failed ({message})")

    def _not_measured(self, reason: str) -> None:
        run_dir = self.target[2] if self.target and self.record else None
        metrics = measure_later.not_measured(run_dir, reason) if run_dir is not None else {}
        if run_dir is not None:
            (run_dir / measure_later.PENDING_FILE).unlink(missing_ok=True)
        self._finish(metrics)

    def _finish(self, metrics: dict) -> None:
        project, name, _run = self.target or (None, "", None)
        self.target = ()
        if not self.end(hide=True):
            return
        if project is not None and metrics:
            try:
                measure_later.apply(project, name, metrics)
            except OSError as exc:
                show_error(self.w, "Estimating the interval", f"could not keep the figures of {name}: {exc}")
            else:
                self.measured.emit(name, metrics)
        self.run_then()
