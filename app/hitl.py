"""Human-in-the-loop wiring: ``install_hitl(window)`` adds the training, models, review, label-next and
evaluation docks, the Train on my labels toolbar button and the Model / Help menus to a main window.

``HitlController`` only composes: it builds the panels (views that emit intents), one controller per job
under ``app/controllers`` (each given a ``HitlContext``, never the window), the shortcut table's model
rows and the menus, and follows the window's folder. Every long job is a ``core`` function run through
``app.workers`` (so errors become a dialog and a log entry).
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from app import preferences
from app.actions import build_actions
from app.controllers.context import HitlContext, PredictorCache
from app.controllers.evaluation import EvaluationController
from app.controllers.label_next import LabelNextController
from app.controllers.models import ModelLibraryController
from app.controllers.prediction import PredictionController
from app.controllers.review import ReviewController
from app.controllers.saliency import SaliencyController
from app.controllers.training import TrainingController
from app.logs_dialog import show_logs
from app.panels.evaluation import EvaluationPanel
from app.panels.label_next import LabelNextPanel
from app.panels.models import ModelsPanel
from app.panels.review import ReviewPanel
from app.panels.training import TrainingPanel
from core.capabilities import TRAINING_NEEDS_FULL_BUILD, torch_available
from core.logs import setup_logging

log = logging.getLogger("toothseg.app.hitl")


class HitlController(QtCore.QObject):
    def __init__(self, window: QtWidgets.QMainWindow):
        super().__init__(window)
        self.w = window
        self.log_file = setup_logging()
        self.torch = torch_available()
        self.session = None
        self.ctx = HitlContext(parent=window, message=lambda text: window.status.message(text),
                               ask=lambda question: window.ask(question),
                               save_now=lambda: window.save_now(quiet=True),
                               select=lambda position: window.select(position), torch=self.torch,
                               predictors=PredictorCache(tta=bool(preferences.get("flip_tta", False))))
        self.training, self.models, self.review = TrainingPanel(window), ModelsPanel(window), ReviewPanel(window)
        self.label_next, self.evaluation = LabelNextPanel(window), EvaluationPanel(window)
        self.docks = (self.training, self.models, self.review, self.label_next, self.evaluation)
        self._dock(window.layers)
        self.training.set_torch(self.torch)
        self.models.torch_available = self.evaluation.torch_available = self.torch
        if not self.torch:
            for w in (self.label_next.refresh_button, self.evaluation.run_button):
                w.setEnabled(False)
                w.setToolTip(TRAINING_NEEDS_FULL_BUILD)
        self.actions = self._build_actions()
        from app.pretrain import BackgroundPretrainer

        self.pretrainer = BackgroundPretrainer(        # MIM while the user annotates
            window, enabled=self.torch, training_busy=lambda: self.job is not None,
            on_registered=lambda: (self.refresh_models(), self.show_plan()))
        ctx, dataset = self.ctx, window.dataset
        self.prediction_ctl = PredictionController(ctx, window.canvas)
        self.training_ctl = TrainingController(ctx, self.training, dataset.update_summary, self.pretrainer)
        self.models_ctl = ModelLibraryController(ctx, self.models)
        self.review_ctl = ReviewController(ctx, self.review, self.prediction_ctl, dataset, window.tools,
                                           self.models.show_info)
        self.evaluation_ctl = EvaluationController(ctx, self.evaluation, self.prediction_ctl,
                                                   lambda: window.layers.set_layer_checked("errors", True))
        self.label_next_ctl = LabelNextController(ctx, self.label_next)
        self.saliency_ctl = SaliencyController(ctx, window.canvas, self.actions["saliency"])
        self._wire()
        window.installEventFilter(self)
        self._show(False)
        self.session_changed()

    # ------------------------------------------------------------------ composition
    def _dock(self, below: QtWidgets.QDockWidget) -> None:
        """Tabs beside "View & tools" under the classes: the canvas keeps the width it needs."""
        for d in self.docks:
            self.w.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, d)
        for d in self.docks:
            self.w.tabifyDockWidget(below, d)
        below.raise_()
        QtCore.QTimer.singleShot(0, self.w, self._full_tab_titles)  # dropped if the window goes first

    def _build_actions(self) -> dict[str, QtGui.QAction]:
        """The "model" rows of the one shortcut table in app/actions.py."""
        handlers = {"train_on_labels": lambda: self.train_on_labels(),
                    "predict_current": lambda: self.predict("current"),
                    "predict_unlabeled": lambda: self.predict("unlabeled"),
                    "saliency": lambda: self.toggle_saliency(), "evaluate": lambda: self.evaluation.run_button.click(),
                    "flip_tta": lambda: self.set_tta(self.actions["flip_tta"].isChecked()),
                    "review_accept": lambda: self.review.trigger("accept"),
                    "review_reject": lambda: self.review.trigger("reject"),
                    "review_edit": lambda: self.review.trigger("edit"),
                    "show_logs": lambda: setattr(self, "logs_dialog", show_logs(self.w))}
        actions = build_actions(self.w, handlers, module="model")
        if not self.torch:
            for name in ("train_on_labels", "saliency", "evaluate"):
                actions[name].setEnabled(False)
                actions[name].setToolTip(TRAINING_NEEDS_FULL_BUILD)
        top = self.w.toolbars[-1]
        top.addSeparator()
        top.addAction(actions["train_on_labels"])
        top.addAction(actions["predict_current"])
        bar = self.w.menuBar()
        menu = bar.addMenu("&Model")
        menu.setObjectName("modelMenu")
        actions["flip_tta"].setChecked(self.tta)
        for name in ("train_on_labels", None, "predict_current", "predict_unlabeled", "flip_tta", None,
                     "saliency", "evaluate", None, "review_accept", "review_reject", "review_edit"):
            menu.addSeparator() if name is None else menu.addAction(actions[name])
        view = QtWidgets.QMenu("&Panels", bar)
        for d in self.docks:
            view.addAction(d.toggleViewAction())
        bar.addMenu(view)
        helpm = next((a.menu() for a in bar.actions() if a.menu() and a.text().replace("&", "") == "Help"), None)
        (helpm or bar.addMenu("&Help")).addAction(actions["show_logs"])
        return actions

    def _wire(self) -> None:
        """Intents that cross controllers; each controller listens to its own panel itself."""
        self.models.predict_requested.connect(self.predict)
        self.review.predict_requested.connect(lambda: self.predict("unlabeled"))
        self.models_ctl.changed.connect(self.evaluation_ctl.models_changed)
        self.training_ctl.registered.connect(self.refresh_models)
        self.training_ctl.review_wanted.connect(lambda: self.predict("unlabeled"))
        dataset = self.w.dataset
        dataset.model.modelReset.connect(self.session_changed)
        self._plan_timer = QtCore.QTimer(self, singleShot=True, interval=250)   # a burst of saves: one plan
        self._plan_timer.timeout.connect(self.training_ctl.labels_changed)
        self._plan_timer.timeout.connect(self.pretrainer.labels_changed)   # new labels' views, for the head
        dataset.model.dataChanged.connect(lambda *_a: self._plan_timer.start())
        dataset.activated.connect(lambda _p: self.saliency_ctl.clear())

    def eventFilter(self, obj, ev) -> bool:  # noqa: N802 (Qt API)
        """Closing the window cancels a running training (its last checkpoint stays resumable); the background
        items (pretraining, interval, box tool) cancel themselves."""
        if obj is self.w and ev.type() == QtCore.QEvent.Type.Close:
            self.cancel()
        return False

    def _full_tab_titles(self) -> None:
        """Dock tabs scroll instead of eliding "Training" to "Tra..."."""
        for bar in self.w.findChildren(QtWidgets.QTabBar):
            bar.setElideMode(QtCore.Qt.TextElideMode.ElideNone)
            bar.setUsesScrollButtons(True)

    def _show(self, on: bool) -> None:
        for d in self.docks:
            d.setVisible(on)
        if on:  # the editor's own tab stays in front (after the window shows its docks); Training comes
            # forward when a run starts
            front = self.w.layers
            QtCore.QTimer.singleShot(0, front, front.raise_)
            QtCore.QTimer.singleShot(0, self.w, self._full_tab_titles)

    # ------------------------------------------------------------------ session
    def session_changed(self) -> None:
        s = self.w.session
        if s is self.session:
            return
        self.session = self.ctx.session = s
        self.ctx.predictors.clear()
        self.prediction_ctl.follow(s)
        self.training_ctl.session_changed()
        self.pretrainer.session_changed(s)
        self._show(s is not None)
        self.review_ctl.session_changed()
        if s is None:
            return
        self.refresh_models()
        self.refresh_review()
        self.show_plan()

    # ------------------------------------------------------------------ the calls menus, scripts and tests use
    @property
    def job(self):
        """The running training job, or None."""
        return self.training_ctl.job

    @property
    def last(self) -> dict[str, Any] | None:
        return self.training_ctl.last

    @property
    def queue(self):
        """The review queue of the open folder (``core.hitl.review.ReviewQueue``), or None."""
        return self.review_ctl.queue

    @property
    def auto_overrides(self) -> dict[str, Any]:
        """Recipe keys forced on Train on my labels (Preferences' device, tests, power users)."""
        return self.training_ctl.auto_overrides

    @auto_overrides.setter
    def auto_overrides(self, value: dict[str, Any]) -> None:
        self.training_ctl.auto_overrides = value

    @property
    def default_minutes(self) -> float | None:
        return self.training_ctl.default_minutes

    @default_minutes.setter
    def default_minutes(self, value: float | None) -> None:
        self.training_ctl.default_minutes = value

    @property
    def tta(self) -> bool:
        return self.ctx.predictors.tta

    def train_on_labels(self, minutes: float | None = None) -> None:
        self.training_ctl.train_on_labels(minutes)

    def cancel(self) -> None:
        self.training_ctl.cancel()

    def show_plan(self) -> None:
        self.training_ctl.show_plan()

    def refresh_models(self) -> None:
        self.models_ctl.refresh()

    def refresh_review(self) -> None:
        self.review_ctl.refresh()

    def predict(self, which: str) -> None:
        """``which``: "current" (the image in the editor), "unlabeled" or "selection" (into the review queue)."""
        if which == "current":
            self.prediction_ctl.predict_current()
        else:
            self.review_ctl.predict(which)

    def toggle_saliency(self) -> None:
        self.saliency_ctl.toggle()

    def set_tta(self, on: bool) -> None:
        self.prediction_ctl.set_tta(on)


def install_hitl(window: QtWidgets.QMainWindow) -> HitlController:
    """Add the human-in-the-loop docks, toolbar button and menus to ``window``; returns the controller."""
    controller = HitlController(window)
    window.hitl = controller
    return controller
