"""Human-in-the-loop wiring: ``install_hitl(window)`` adds training, models, review, label-next and
evaluation docks, the Train on my labels toolbar button and the Model / Help menus to a main window.

The controller only composes: every long job is a ``core`` function run through ``app.workers`` (so
errors become a dialog and a log entry), and project changes happen here on the UI thread.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from app import preferences
from app.actions import build_actions
from app.panels.evaluation import EvaluationActions, EvaluationPanel
from app.panels.label_next import LabelNextActions, LabelNextPanel
from app.panels.models import ModelsPanel
from app.panels.review import ReviewActions, ReviewPanel
from app.panels.training import QtTrainEvents, TrainingPanel
from app.workers import describe, run_job, show_error
from core.capabilities import TRAINING_NEEDS_FULL_BUILD, torch_available
from core.data.origins import origin_counts
from core.errors import ToothSegError
from core.hitl import auto_train, library
from core.hitl.cross_validation import quality_text
from core.hitl.review import ReviewQueue
from core.logs import log_path, setup_logging, tail

log = logging.getLogger("toothseg.app.hitl")


class HitlController(ReviewActions, EvaluationActions, LabelNextActions, QtCore.QObject):
    def __init__(self, window: QtWidgets.QMainWindow):
        super().__init__(window)
        self.w = window
        self.log_file = setup_logging()
        self.torch = torch_available()
        self.auto_overrides: dict[str, Any] = {}   # recipe keys forced on Train on my labels (tests, power users)
        self.default_minutes: float | None = None   # Preferences: budget shown in the plan (None: the plan's)
        self.job = None
        self.last: dict[str, Any] | None = None    # what Resume continues
        self.queue: ReviewQueue | None = None
        self.session = None
        self.editing = ""
        self._predictors: dict[str, Any] = {}
        self.tta = bool(preferences.get("flip_tta", False))
        self.training, self.models, self.review = TrainingPanel(window), ModelsPanel(window), ReviewPanel(window)
        self.label_next, self.evaluation = LabelNextPanel(window), EvaluationPanel(window)
        self.docks = (self.training, self.models, self.review, self.label_next, self.evaluation)
        for d in self.docks:
            window.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, d)
        below = getattr(window, "layers", None)
        if isinstance(below, QtWidgets.QDockWidget):
            # tabs beside "View & tools" under the classes: the canvas keeps the width it needs
            for d in self.docks:
                window.tabifyDockWidget(below, d)
            below.raise_()
            QtCore.QTimer.singleShot(0, window, self._full_tab_titles)  # dropped if the window goes first
        else:
            for d in self.docks[1:]:
                window.tabifyDockWidget(self.training, d)
        self.training.set_torch(self.torch)
        self.models.torch_available = self.evaluation.torch_available = self.torch
        if not self.torch:
            for w in (self.label_next.refresh_button, self.evaluation.run_button):
                w.setEnabled(False)
                w.setToolTip(TRAINING_NEEDS_FULL_BUILD)
        self.saliency = pg.ImageItem(axisOrder="row-major")
        self.saliency.setZValue(15)
        self.saliency.setVisible(False)
        window.canvas.vb.addItem(self.saliency, ignoreBounds=True)
        self.actions = self._build_actions()
        self._wire()
        from app.pretrain import BackgroundPretrainer

        self.pretrainer = BackgroundPretrainer(window, enabled=self.torch)  # MIM while the user annotates
        window.installEventFilter(self)
        self._show(False)
        self.session_changed()

    # ------------------------------------------------------------------ composition
    def _build_actions(self) -> dict[str, QtGui.QAction]:
        """The "model" rows of the one shortcut table in app/actions.py."""
        handlers = {"train_on_labels": lambda: self.train_on_labels(),
                    "predict_current": lambda: self.predict("current"),
                    "predict_unlabeled": lambda: self.predict("unlabeled"),
                    "saliency": lambda: self.toggle_saliency(), "evaluate": lambda: self.evaluation.run_button.click(),
                    "flip_tta": lambda: self.set_tta(self.actions["flip_tta"].isChecked()),
                    "review_accept": lambda: self.review.trigger("accept"),
                    "review_reject": lambda: self.review.trigger("reject"),
                    "review_edit": lambda: self.review.trigger("edit"), "show_logs": lambda: self.show_logs()}
        actions = build_actions(self.w, handlers, module="model")
        if not self.torch:
            for name in ("train_on_labels", "saliency", "evaluate"):
                actions[name].setEnabled(False)
                actions[name].setToolTip(TRAINING_NEEDS_FULL_BUILD)
        top = getattr(self.w, "toolbars", (None, None))[-1]
        if top is not None:
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
        t, m, r = self.training, self.models, self.review
        t.auto_requested.connect(lambda minutes: self.train_on_labels(minutes))
        t.start_requested.connect(self.start_mode)
        t.cancel_requested.connect(self.cancel)
        t.resume_requested.connect(self.resume)
        m.activate_requested.connect(self.set_active)
        m.export_requested.connect(self.export)
        m.delete_requested.connect(self.delete_model)
        m.reveal_requested.connect(self.reveal)
        m.predict_requested.connect(self.predict)
        m.selection_changed.connect(self.show_model_curves)
        r.predict_requested.connect(lambda: self.predict("unlabeled"))
        r.show_requested.connect(self.show_pseudo)
        r.accept_requested.connect(self.accept)
        r.reject_requested.connect(self.reject)
        r.edit_requested.connect(self.edit)
        r.order_changed.connect(lambda _o: self.refresh_review())
        r.bulk_accept_requested.connect(self.accept_likely)
        self.label_next.refresh_requested.connect(self.rank_unlabeled)
        self.label_next.open_requested.connect(self.open_sample)
        self.evaluation.run_requested.connect(self.evaluate)
        self.evaluation.open_requested.connect(self.open_with_errors)
        self.w.dataset.model.modelReset.connect(self.session_changed)
        self._plan_timer = QtCore.QTimer(self, singleShot=True, interval=250)   # a burst of saves: one plan
        self._plan_timer.timeout.connect(self._labels_changed)
        self.w.dataset.model.dataChanged.connect(lambda *_a: self._plan_timer.start())
        self.w.dataset.activated.connect(lambda _p: self._clear_saliency())

    def eventFilter(self, obj, ev) -> bool:  # noqa: N802 (Qt API)
        """Closing the window cancels a running training (its last checkpoint stays resumable)."""
        if obj is self.w and ev.type() == QtCore.QEvent.Type.Close:
            self.cancel()
            self.pretrainer.cancel()
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
            front = getattr(self.w, "layers", self.training)
            QtCore.QTimer.singleShot(0, front, front.raise_)
            QtCore.QTimer.singleShot(0, self.w, self._full_tab_titles)

    # ------------------------------------------------------------------ session
    def session_changed(self) -> None:
        s = getattr(self.w, "session", None)
        if s is self.session:
            return
        self.session, self.queue, self.last, self.editing = s, None, None, ""
        self._predictors.clear()
        self.pretrainer.session_changed(s)
        self._show(s is not None)
        if s is None:
            return
        try:
            self.queue = ReviewQueue(s.project, s.index)
        except Exception as exc:
            show_error(self.w, "Review queue", *describe(exc))
        self.refresh_models()
        self.refresh_review()
        self.show_plan()

    def _project(self):
        if self.session is None:
            self.w.status.message("Open a dataset folder first")
            return None
        return self.session.project

    def show_plan(self) -> None:
        s = self.session
        if s is None or not self.torch:
            return
        try:
            plan = auto_train.plan_training(s.project, s.index, minutes=self.default_minutes, **self.auto_overrides)
        except Exception as exc:
            self.training.show_plan(str(exc), ready=False)
            self._planned_labels = len(s.index.labeled())
            return
        self.training.budget.setValue(plan.recipe.max_minutes or self.training.budget.value())
        self.training.show_plan(plan.describe())
        self._planned_labels = plan.labeled

    def _labels_changed(self) -> None:
        """A mask was saved or accepted (a dataset row changed): the plan follows the label count at once."""
        s = self.session
        if s is not None and self.job is None and len(s.index.labeled()) != getattr(self, "_planned_labels", None):
            self.show_plan()

    def status(self, text: str) -> None:
        self.w.status.message(text)
        log.info(text)

    def _run(self, title: str, fn, *args, on_done=None, **kwargs):
        job = run_job(self.w, title, fn, *args, on_done=on_done, progress_dialog=False, **kwargs)
        job.signals.progress.connect(lambda d, n, msg: self.w.status.message(f"{title}: {d}/{n} {msg}"))
        return job

    # ------------------------------------------------------------------ training
    def train_on_labels(self, minutes: float | None = None) -> None:
        project = self._project()
        if project is None or self.job is not None:
            return
        if not self.torch:
            show_error(self.w, "Train on my labels", TRAINING_NEEDS_FULL_BUILD)
            return
        if self.pretrainer.stop_then(lambda: self.train_on_labels(minutes)):  # its checkpoint is the warm start
            self.status("Stopping the background pretraining; training starts from it")
            return
        if self.session.dirty:  # an unchanged mask is never rewritten
            self.w.save_now(quiet=True)
        s = self.session
        try:
            plan = auto_train.plan_training(project, s.index, minutes=minutes, **self.auto_overrides)
        except Exception as exc:
            show_error(self.w, "Train on my labels", *describe(exc))
            return
        prev = project.model(plan.previous) if plan.previous else None
        self.last = {"kind": "auto", "plan": plan, "run_dir": auto_train.new_run_dir(project),
                     "previous": str(auto_train.model_path(project, prev)) if prev else None}
        self.training.begin("Train on my labels")
        self.training.show_plan(plan.describe())
        self.training.set_budget(plan.recipe.max_minutes)
        self.training.set_running(True)
        self.job = self._run("Preparing splits", auto_train.compute_splits, project, s.index,
                             on_done=lambda splits: self._splits_ready(splits))
        self._watch(self.job)

    def _splits_ready(self, splits) -> None:
        from core.data.groups import stored_groups

        auto_train.apply_splits(self.session.project, self.session.index, splits)
        grouping = stored_groups(self.session.project)
        if grouping is not None:  # say what validation keeps apart, and when grouping found nothing useful
            self.training.append_log(grouping.describe())
            if grouping.message:
                self.status(f"Acquisition groups: {grouping.message}")
        self.w.dataset.update_summary()  # the Group filter fills in
        self._start_training(resume=False)

    def start_mode(self, mode: str, changes: dict) -> None:
        """Run one of the five modes with the recipe from the Advanced fields."""
        project = self._project()
        if project is None or self.job is not None or not self.torch:
            return
        if self.pretrainer.stop_then(lambda: self.start_mode(mode, changes)):  # one training at a time
            return
        from core.train.recipe import default_recipe

        if self.session.dirty:  # an unchanged mask is never rewritten
            self.w.save_now(quiet=True)
        try:
            recipe = default_recipe(mode).updated(**changes)
        except Exception as exc:
            show_error(self.w, "Training recipe", *describe(exc))
            return
        self.last = {"kind": "mode", "recipe": recipe, "run_dir": auto_train.new_run_dir(project, mode)}
        self.training.begin(self.training.mode.currentText())
        self.training.set_budget(recipe.max_minutes)
        self.training.set_running(True)
        self._start_training(resume=False)

    def _start_training(self, resume: bool) -> None:
        self.training.raise_()  # show the curves of the run being started
        last = self.last
        events = QtTrainEvents(self.training.signals)
        root, self._job_project = self.session.root, self.session.project
        if last["kind"] == "auto":
            from core.hitl.auto_train import run_plan

            self.job = self._run("Train on my labels", run_plan, last["plan"], root, last["run_dir"], events=events,
                                 resume=resume, previous_checkpoint=last["previous"], on_done=self._trained)
        else:
            from core.hitl.modes import run_mode

            self.job = self._run("Training", run_mode, last["recipe"], root, last["run_dir"], events=events,
                                 resume=resume, on_done=self._trained)
        self.training.set_running(True)
        self._watch(self.job)

    def _watch(self, job) -> None:
        job.signals.cancelled.connect(lambda _m: self._stopped(True))
        job.signals.failed.connect(lambda _m, _d: self._stopped(False))

    def _stopped(self, cancelled: bool) -> None:
        self.job = None
        run_dir = Path(self.last["run_dir"]) if self.last else None
        can_resume = bool(run_dir and (run_dir / "last_state.pt").exists())
        self.training.set_running(False, can_resume=can_resume)
        if cancelled:
            kept = f"; last checkpoint kept in {run_dir}" if can_resume else ""
            self.training.append_log(f"cancelled{kept}")
            self.training.eta.setText("cancelled" + (" - press Resume to continue" if can_resume else ""))
            self.status(f"Training cancelled{kept}")

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel_token.cancel()

    def resume(self) -> None:
        if self.job is None and self.last is not None and self.session is not None:
            self.training.append_log(f"--- resume {Path(self.last['run_dir']).name} ---")
            self._start_training(resume=True)

    def _trained(self, outcome: dict) -> None:
        self.job = None
        project, segmentation = self._job_project, bool(outcome.get("onnx"))
        if self.session is None or self.session.project is not project:  # another folder was opened meanwhile
            auto_train.register(project, outcome, make_active=segmentation)
            return
        entry = auto_train.register(project, outcome, make_active=segmentation)
        self._predictors.clear()
        self.training.set_running(False, can_resume=False)
        if segmentation:
            prev = outcome.get("previous_dice")
            text = quality_text(outcome)
            text += f" (previous model {prev:.3f} on the same validation images)" if prev is not None else " (first model)"
            text += f" - {entry.name} is now the active model"
        else:
            text = f"{entry.name} saved; Train on my labels will warm-start from it"
        self.training.result_label.setText(text)
        self.training.eta.setText(f"done in {outcome.get('elapsed_s', 0):.0f} s")
        self.training.append_log(text)
        self.status(text)
        self.refresh_models()
        self.show_plan()
        if outcome.get("mode") == "pseudo-label":
            self.predict("unlabeled")

    # ------------------------------------------------------------------ models
    def refresh_models(self) -> None:
        project = self.session.project if self.session else None
        rows = library.rows(project) if project else []
        self.models.set_rows(rows)
        names = [r["name"] for r in rows if r["mode"] in ("finetune", "mean-teacher", "pseudo-label")]
        self.evaluation.set_models(names, project.active_model if project else "")
        if self.session is not None:
            self.evaluation.set_split_counts(auto_train.split_counts(self.session.index),
                                             origin_counts(self.session.index))
        active = next((r for r in rows if r["active"]), None)
        if active:
            self.models.show_info(f"Active: {active['name']} - {quality_text(active['metrics'])}")

    def show_model_curves(self, name: str) -> None:
        """The selected model's training curves, read back from the metrics.csv beside its checkpoint."""
        from core.train.metrics_log import run_metrics

        project = self.session.project if self.session else None
        m = project.model(name) if project and name else None
        rows = run_metrics(auto_train.model_path(project, m) or auto_train.model_path(project, m, onnx=True)) if m else []
        self.models.show_curves(name if m else "", rows)

    def set_active(self, name: str) -> None:
        project = self._project()
        if project is not None:
            try:
                library.set_active(project, name)  # refuses a model whose metadata fails the schema
            except ToothSegError as exc:
                show_error(self.w, "Set active model", *describe(exc))
                return
            self._predictors.clear()
            self.refresh_models()
            self.status(f"{name} is the active model")

    def export(self, name: str, int8: bool) -> None:
        project = self._project()
        if project is None:
            return
        ckpt = auto_train.model_path(project, library.entry(project, name))

        def done(report: dict) -> None:
            library.record_export(project, name, report)
            self._predictors.clear()
            text = f"{name}: ONNX parity {report['max_abs_diff']:.1e} on {report['parity_images']} images"
            if "dice_drop" in report:
                text += f"; int8 Dice {report['dice_int8']:.3f} vs fp32 {report['dice_fp32']:.3f}"
            elif "dice_int8_vs_fp32" in report:
                text += f"; int8 agrees with fp32 at Dice {report['dice_int8_vs_fp32']:.3f}"
            self.refresh_models()
            self.models.show_info(text)
            self.status(text)

        self._run("Export ONNX", library.export_model, project, ckpt, int8, on_done=done)

    def delete_model(self, name: str) -> None:
        project = self._project()
        if project is not None and self.w.ask(f"Delete model {name} and its files?"):
            library.delete(project, name)
            self._predictors.clear()
            self.refresh_models()

    def reveal(self, name: str) -> None:
        project = self._project()
        if project is not None:
            path = auto_train.model_path(project, library.entry(project, name))
            QtGui.QDesktopServices.openUrl(QtCore.QUrl.fromLocalFile(str(path.parent)))

    # ------------------------------------------------------------------ prediction, review, label next
    def predictor(self, model: Path):
        from core.infer.predictor import load_predictor

        key = str(model)
        if key not in self._predictors:
            self._predictors[key] = load_predictor(model, tta=self.tta)
        return self._predictors[key]

    def set_tta(self, on: bool) -> None:
        """Flip test-time augmentation for every later prediction and evaluation (remembered)."""
        self.tta = bool(on)
        self._predictors.clear()
        preferences.put("flip_tta", self.tta)
        self.status("Flip test-time augmentation " + ("on: predictions average each image with its mirror image"
                                                      if self.tta else "off"))

    # ------------------------------------------------------------------ logs
    def show_logs(self) -> None:
        box = QtWidgets.QDialog(self.w)
        box.setObjectName("logsDialog")
        box.setWindowTitle(f"Logs - {log_path()}")
        box.resize(900, 500)
        box.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
        lay = QtWidgets.QVBoxLayout(box)
        text = QtWidgets.QPlainTextEdit(tail() or "(nothing logged yet)", styleSheet="font-family: monospace;")
        text.setReadOnly(True)
        lay.addWidget(text)
        folder = QtWidgets.QPushButton("Open log folder")
        folder.clicked.connect(lambda: QtGui.QDesktopServices.openUrl(QtCore.QUrl.fromLocalFile(str(log_path().parent))))
        lay.addWidget(folder)
        box.show()
        self.logs_dialog = box


def install_hitl(window: QtWidgets.QMainWindow) -> HitlController:
    """Add the human-in-the-loop docks, toolbar button and menus to ``window``; returns the controller."""
    controller = HitlController(window)
    window.hitl = controller
    return controller
