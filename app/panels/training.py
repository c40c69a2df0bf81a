"""Training dock: Train on my labels, the five modes with their recipe, progress with ETA, curves, log.

The panel only shows state and emits what the user asked for; ``app.controllers.training`` runs the
jobs. Training events arrive from the worker thread through ``QtTrainEvents``, whose signals Qt queues
onto the UI thread, so the window never waits for the loop.
"""

from __future__ import annotations

import time

from PySide6 import QtCore, QtWidgets

from app.actions import key_of
from app.panels.curves import CurvesWidget, PreviewStrip
from app.panels.recipe_form import RecipeForm
from core.capabilities import TRAINING_NEEDS_FULL_BUILD
from core.train.events import TrainEvents
from core.train.fields import MODE_LIST
from core.train.recipe import default_recipe

NEEDS_FULL = TRAINING_NEEDS_FULL_BUILD


class TrainSignals(QtCore.QObject):
    started = QtCore.Signal(int, object)
    step = QtCore.Signal(int, float, float)
    budget = QtCore.Signal(float)
    epoch = QtCore.Signal(int, object)
    preview = QtCore.Signal(object)
    log = QtCore.Signal(str)
    ended = QtCore.Signal(object)


class QtTrainEvents(TrainEvents):
    """core's training callbacks -> queued Qt signals (called on the worker thread)."""

    def __init__(self, signals: TrainSignals):
        self.signals = signals

    def on_start(self, total_steps, info):
        self.signals.started.emit(int(total_steps), dict(info))

    def on_step(self, step, loss, lr):
        self.signals.step.emit(int(step), float(loss), float(lr))

    def on_budget(self, fraction):
        self.signals.budget.emit(float(fraction))

    def on_epoch(self, epoch, metrics):
        self.signals.epoch.emit(int(epoch), dict(metrics))

    def on_preview(self, images):
        self.signals.preview.emit({k: v.copy() for k, v in images.items()})

    def on_log(self, line):
        self.signals.log.emit(str(line))

    def on_end(self, result):
        self.signals.ended.emit(dict(result))


def _spin(lo: float, hi: float, value: float, decimals: int = 0, step: float = 1.0) -> QtWidgets.QAbstractSpinBox:
    if decimals:
        w = QtWidgets.QDoubleSpinBox()
        w.setDecimals(decimals)
        w.setSingleStep(step)
    else:
        w = QtWidgets.QSpinBox()
        w.setSingleStep(int(step))
    w.setRange(lo, hi)
    w.setValue(value)
    return w


class TrainingPanel(QtWidgets.QDockWidget):
    auto_requested = QtCore.Signal(float)          # Train on my labels with this budget (minutes)
    start_requested = QtCore.Signal(str, object)   # mode, recipe changes
    cancel_requested = QtCore.Signal()
    resume_requested = QtCore.Signal()

    def __init__(self, parent=None):
        super().__init__("Training", parent)
        self.setObjectName("trainingDock")
        self.signals = TrainSignals(self)
        body = QtWidgets.QWidget()
        lay = QtWidgets.QVBoxLayout(body)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addWidget(self._auto_box())
        lay.addWidget(self._mode_box())
        lay.addLayout(self._run_row())
        self.curves = CurvesWidget()
        lay.addWidget(self.curves, 3)
        self.preview = PreviewStrip()
        lay.addWidget(self.preview)
        self.log_view = QtWidgets.QPlainTextEdit()
        self.log_view.setObjectName("trainingLog")
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(2000)
        self.log_view.setPlaceholderText("Training log")
        self.log_view.setStyleSheet("font-family: monospace; font-size: 8pt;")
        self.log_view.setMaximumHeight(64)
        lay.addWidget(self.log_view, 1)
        body.setMinimumWidth(380)
        scroll = QtWidgets.QScrollArea()  # small screens scroll the panel instead of growing the window
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(body)
        self.setWidget(scroll)
        self._total, self._t0 = 0, 0.0
        self._used: float | None = None   # the job's own share of its budget used (on_budget)
        self._last: tuple[int, float, float] | None = None
        self.signals.started.connect(self._started)
        self.signals.step.connect(self._step)
        self.signals.budget.connect(self._budget_used)
        self.signals.epoch.connect(self._epoch)
        self.signals.preview.connect(self.preview.show_images)
        self.signals.log.connect(self.append_log)
        self.torch_available = True
        self.set_mode("finetune")
        self.set_running(False, can_resume=False)

    # ------------------------------------------------------------------ layout
    def _auto_box(self) -> QtWidgets.QGroupBox:
        box = QtWidgets.QGroupBox(f"{key_of('train_on_labels')}: Train on my labels")
        box.setObjectName("autoBox")
        grid = QtWidgets.QGridLayout(box)
        grid.setContentsMargins(6, 4, 6, 4)
        self.auto_button = QtWidgets.QPushButton("Train on my labels")
        self.auto_button.setObjectName("trainOnLabels")
        self.auto_button.setMinimumHeight(34)
        self.auto_button.setStyleSheet("QPushButton { font-weight: 600; }")
        self.auto_button.setToolTip("Fine-tune on labeled + reviewed images, export ONNX and make it the "
                                    "active model")
        self.auto_button.clicked.connect(lambda: self.auto_requested.emit(self.budget.value()))
        self.budget = _spin(0.1, 120.0, 1.0, 1, 0.5)
        self.budget.setSuffix(" min")
        self.budget.setToolTip("Time budget; the default is chosen from the number of labels and the device")
        self.plan_label = QtWidgets.QLabel("")
        self.plan_label.setWordWrap(True)
        self.plan_label.setStyleSheet("color: #8a939c;")
        self.result_label = QtWidgets.QLabel("")
        self.result_label.setObjectName("trainResult")
        self.result_label.setWordWrap(True)
        grid.addWidget(self.auto_button, 0, 0)
        grid.addWidget(QtWidgets.QLabel("Budget"), 0, 1)
        grid.addWidget(self.budget, 0, 2)
        grid.addWidget(self.plan_label, 1, 0, 1, 3)
        grid.addWidget(self.result_label, 2, 0, 1, 3)
        return box

    def _mode_box(self) -> QtWidgets.QGroupBox:
        box = QtWidgets.QWidget()
        outer = QtWidgets.QVBoxLayout(box)
        outer.setContentsMargins(0, 0, 0, 0)
        self.modes_toggle = QtWidgets.QToolButton()   # the second recipe folds away: Ctrl+T never uses it
        self.modes_toggle.setObjectName("otherModesToggle")
        self.modes_toggle.setText(f"Other modes and their recipe (not {key_of('train_on_labels')})")
        self.modes_toggle.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.modes_toggle.setCheckable(True)
        self.modes_toggle.setAutoRaise(True)
        self.modes_toggle.setArrowType(QtCore.Qt.ArrowType.RightArrow)
        self.modes_box = QtWidgets.QGroupBox()
        self.modes_box.setObjectName("otherModes")
        self.modes_box.setVisible(False)
        self.modes_toggle.toggled.connect(self.show_modes)
        outer.addWidget(self.modes_toggle)
        outer.addWidget(self.modes_box)
        lay = QtWidgets.QVBoxLayout(self.modes_box)
        row = QtWidgets.QHBoxLayout()
        self.mode = QtWidgets.QComboBox()
        self.mode.setObjectName("trainingMode")
        for m in MODE_LIST:
            self.mode.addItem(m.title, m.name)
        self.mode.currentIndexChanged.connect(lambda _i: self.set_mode(self.mode.currentData()))
        self.start_button = QtWidgets.QPushButton("Start")
        self.start_button.setObjectName("startTraining")
        self.start_button.clicked.connect(lambda: self.start_requested.emit(self.current_mode(), self.recipe_changes()))
        row.addWidget(self.mode, 1)
        row.addWidget(self.start_button)
        lay.addLayout(row)
        self.summary = QtWidgets.QLabel("")
        self.summary.setStyleSheet("color: #8a939c;")
        lay.addWidget(self.summary)
        self.advanced = QtWidgets.QGroupBox("Advanced")
        self.advanced.setCheckable(True)
        self.advanced.setChecked(False)
        inner = RecipeForm()  # generated from the recipe fields' knobs (core.train.fields)
        self.fields = inner.fields
        self.form = inner
        wrap = QtWidgets.QVBoxLayout(self.advanced)
        wrap.setContentsMargins(4, 4, 4, 4)
        wrap.addWidget(inner)
        self.advanced.toggled.connect(inner.setVisible)
        inner.setVisible(False)
        lay.addWidget(self.advanced)
        return box

    def _run_row(self) -> QtWidgets.QVBoxLayout:
        col = QtWidgets.QVBoxLayout()
        row = QtWidgets.QHBoxLayout()
        self.progress = QtWidgets.QProgressBar()
        self.progress.setObjectName("trainingProgress")
        self.progress.setFormat("%p%")
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelTraining")
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.resume_button = QtWidgets.QPushButton("Resume")
        self.resume_button.setObjectName("resumeTraining")
        self.resume_button.setToolTip("Continue the cancelled run from its last checkpoint")
        self.resume_button.clicked.connect(self.resume_requested)
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        row.addWidget(self.resume_button)
        col.addLayout(row)
        self.eta = QtWidgets.QLabel("")
        self.eta.setObjectName("trainingEta")
        self.eta.setStyleSheet("color: #8a939c;")
        col.addWidget(self.eta)
        return col

    # ------------------------------------------------------------------ recipe
    def show_plan(self, text: str, ready: bool = True) -> None:
        """The one line that says what Ctrl+T will do now (or why it cannot)."""
        self.plan_label.setText(f"{key_of('train_on_labels')} will train: {text}" if ready else text)

    def show_modes(self, on: bool) -> None:
        """Unfold the five modes with their own recipe (Start), or fold them under their heading."""
        self.modes_toggle.setChecked(on)
        self.modes_toggle.setArrowType(QtCore.Qt.ArrowType.DownArrow if on else QtCore.Qt.ArrowType.RightArrow)
        self.modes_box.setVisible(on)

    def current_mode(self) -> str:
        return str(self.mode.currentData())

    def set_mode(self, mode: str) -> None:
        """Show the mode's shipped defaults in the Advanced fields."""
        if self.mode.currentData() != mode:
            self.mode.setCurrentIndex(self.mode.findData(mode))
            return
        r = default_recipe(mode)
        self.form.show_recipe(r)
        self.summary.setText(f"{r.model.get('name')} {r.model.get('base_channels')} ch, {r.size_text}, "
                             f"{r.epochs} epochs, lr {r.lr:g}")

    def recipe_changes(self) -> dict:
        return self.form.changes(default_recipe(self.current_mode()))

    # ------------------------------------------------------------------ state
    def set_torch(self, available: bool) -> None:
        """Without PyTorch (the viewer build) every training control is disabled and says why."""
        self.torch_available = available
        if not available:
            for w in (self.auto_button, self.start_button, self.resume_button):
                w.setToolTip(NEEDS_FULL)
            self.plan_label.setText(NEEDS_FULL)
        self.set_running(False, can_resume=False)

    def set_running(self, running: bool, can_resume: bool = False) -> None:
        torch_ok = self.torch_available
        self.auto_button.setEnabled(torch_ok and not running)
        self.start_button.setEnabled(torch_ok and not running)
        self.mode.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.resume_button.setEnabled(torch_ok and not running and can_resume)
        if running:
            self.progress.setRange(0, 0)

    def begin(self, title: str) -> None:
        self.curves.reset()
        self.preview.show_images({})
        self.result_label.setText("")
        self.append_log(f"--- {title} ---")
        self.eta.setText("preparing data...")

    def append_log(self, line: str) -> None:
        self.log_view.appendPlainText(line)

    def show_result(self, text: str) -> None:
        """The outcome line of the last run (its Dice with n and interval, the active model); logged too."""
        self.result_label.setText(text)
        self.append_log(text)

    def show_run_state(self, text: str) -> None:
        """The line under the progress bar when a run ends ("done in 42 s", "cancelled - press Resume ...")."""
        self.eta.setText(text)

    def show_budget(self, minutes: float | None) -> None:
        """The plan's time budget in the Budget field (None: keep the one shown)."""
        if minutes:
            self.budget.setValue(minutes)

    def mode_title(self) -> str:
        """The Advanced mode's title as its menu shows it (the run's heading in the log)."""
        return self.mode.currentText()

    def _started(self, total: int, info: dict) -> None:
        self._total, self._t0 = max(1, total), time.monotonic()
        self._used, self._last = None, None
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setFormat("%p%")
        self.eta.setText(f"{info.get('mode', '')} on {info.get('device', '')}")
        self.curves.set_held_out(not info.get("val_trains"))

    def _step(self, step: int, loss: float, lr: float) -> None:
        self.curves.add_step(step, loss, lr)
        self._last = (step, loss, lr)
        self._show_progress()

    def _budget_used(self, fraction: float) -> None:
        self._used = fraction
        self._show_progress()

    def _show_progress(self) -> None:
        if self._last is None:
            return
        step, loss, lr = self._last
        elapsed = time.monotonic() - self._t0
        done = step / self._total
        if self._used is not None:   # by the budget's own clock (wall or CPU seconds), which usually ends the run
            done = max(done, self._used)
        done = min(done, 1.0)
        self.progress.setValue(int(done * 1000))
        left = elapsed / max(done, 1e-6) - elapsed
        self.eta.setText(f"step {step}  loss {loss:.4f}  lr {lr:.2g}  ETA {_fmt(left)}")

    def _epoch(self, epoch: int, metrics: dict) -> None:
        self.curves.add_epoch(epoch, metrics)
        text = "  ".join(f"{k} {v:.4g}" for k, v in metrics.items() if isinstance(v, float) and k != "time_s")
        self.append_log(f"epoch {epoch}: {text}")


def _fmt(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 60}:{s % 60:02d}"
