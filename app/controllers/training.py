"""Training controller: Train on my labels (plan, splits, run), the five modes from the Advanced fields,
cancel and resume, and registering the finished model. Long work runs through ``HitlContext.run``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6 import QtCore

from app.controllers.context import HitlContext
from app.panels.training import QtTrainEvents, TrainingPanel
from core.capabilities import TRAINING_NEEDS_FULL_BUILD
from core.hitl import auto_train
from core.hitl.cross_validation import quality_text


class TrainingController(QtCore.QObject):
    registered = QtCore.Signal()      # a run's model is in the project's library (refresh library and plan)
    review_wanted = QtCore.Signal()   # a pseudo-label run finished: predict the unlabeled images for review

    def __init__(self, ctx: HitlContext, panel: TrainingPanel, summary_changed, pretrainer):
        """``summary_changed()`` refreshes the dataset summary (the Group filter) once splits are stored;
        ``pretrainer`` is the background pretraining that must stop before a training starts."""
        super().__init__(panel)
        self.ctx, self.panel, self.summary_changed, self.pretrainer = ctx, panel, summary_changed, pretrainer
        self.auto_overrides: dict[str, Any] = {}   # recipe keys forced on Train on my labels (tests, power users)
        self.default_minutes: float | None = None   # Preferences: budget shown in the plan (None: the plan's)
        self.job = None
        self.last: dict[str, Any] | None = None    # what Resume continues
        self.planned_labels: int | None = None     # label count the plan shown was made for
        self._job_project = None
        self.result_model = ""                     # the model the result line speaks of
        from app.interval_worker import BackgroundMeasurer

        self.measurer = BackgroundMeasurer(ctx.parent)  # cross-validation after the model is active (ADR 0012)
        self.measurer.measured.connect(self._measured)
        from app.box_tune_worker import BackgroundBoxTuner

        self.box_tuner = BackgroundBoxTuner(ctx.parent)  # then the box tool learns from the labels (issue 17)
        self.box_tuner.tuned.connect(lambda result: self._box_tuned(result["message"]))
        self.box_tuner.stopped.connect(self._box_tuned)
        self.tune_root = None                            # the folder whose labels the box tool tunes on next
        panel.auto_requested.connect(lambda minutes: self.train_on_labels(minutes))
        panel.start_requested.connect(self.start_mode)
        panel.cancel_requested.connect(self.cancel)
        panel.resume_requested.connect(self.resume)

    def session_changed(self) -> None:
        self.last = None
        if self.ctx.session is not None and self.ctx.torch:
            self.measurer.resume(self.ctx.session.project)  # an interval left pending by a closed window

    # ------------------------------------------------------------------ the plan
    def show_plan(self) -> None:
        s = self.ctx.session
        if s is None or not self.ctx.torch:
            return
        try:
            plan = auto_train.plan_training(s.project, s.index, minutes=self.default_minutes, **self.auto_overrides)
        except Exception as exc:
            self.panel.show_plan(str(exc), ready=False)
            self.planned_labels = len(s.index.labeled())
            return
        self.panel.show_budget(plan.recipe.max_minutes)
        self.panel.show_plan(plan.describe())
        self.planned_labels = plan.labeled

    def follow_preferences(self, minutes: float | None, device: str) -> None:
        """Preferences: the budget the plan shows (None: the plan's own) and the device ("auto": the plan's)."""
        self.default_minutes = minutes
        if device == "auto":
            self.auto_overrides.pop("device", None)
        else:
            self.auto_overrides["device"] = device
        self.show_plan()

    def labels_changed(self) -> None:
        """A mask was saved or accepted (a dataset row changed): the plan follows the label count at once."""
        s = self.ctx.session
        if s is not None and self.job is None and len(s.index.labeled()) != self.planned_labels:
            self.show_plan()

    # ------------------------------------------------------------------ starting
    def train_on_labels(self, minutes: float | None = None) -> None:
        project = self.ctx.project()
        if project is None or self.job is not None:
            return
        if not self.ctx.torch:
            self.ctx.error("Train on my labels", TRAINING_NEEDS_FULL_BUILD)
            return
        if self.pretrainer.stop_then(lambda: self.train_on_labels(minutes)):  # its checkpoint is the warm start
            self.ctx.status("Stopping the background pretraining; training starts from it")
            return
        if self.measurer.stop_then(lambda: self.train_on_labels(minutes)):  # one training at a time
            self.ctx.status("Stopping the previous model's interval estimate; training starts next")
            return
        if self.box_tuner.stop_then(lambda: self.train_on_labels(minutes)):
            self.ctx.status("Stopping the box tool's tuning; training starts next")
            return
        s = self.ctx.session
        if s.dirty:  # an unchanged mask is never rewritten
            self.ctx.save_now()
        try:
            plan = auto_train.plan_training(project, s.index, minutes=minutes, **self.auto_overrides)
        except Exception as exc:
            self.ctx.failed("Train on my labels", exc)
            return
        prev = project.model(plan.previous) if plan.previous else None
        self.last = {"kind": "auto", "plan": plan,
                     "run_dir": auto_train.new_run_dir(project, "teeth" if plan.teeth is not None else "finetune"),
                     "previous": str(auto_train.model_path(project, prev)) if prev else None}
        self.panel.begin("Train on my labels")
        self.panel.show_plan(plan.describe())
        self.panel.set_running(True)
        self.job = self.ctx.run("Preparing splits", auto_train.compute_splits, project, s.index,
                                on_done=lambda splits: self._splits_ready(splits), paint_first=True)
        self._watch(self.job)

    def _splits_ready(self, splits) -> None:
        from core.data.groups import stored_groups

        s = self.ctx.session
        auto_train.apply_splits(s.project, s.index, splits)
        grouping = stored_groups(s.project)
        if grouping is not None:  # say what validation keeps apart, and when grouping found nothing useful
            self.panel.append_log(grouping.describe())
            if grouping.message:
                self.ctx.status(f"Acquisition groups: {grouping.message}")
        self.summary_changed()  # the Group filter fills in
        self._start_training(resume=False)

    def start_mode(self, mode: str, changes: dict) -> None:
        """Run one of the five modes with the recipe from the Advanced fields."""
        project = self.ctx.project()
        if project is None or self.job is not None or not self.ctx.torch:
            return
        if self.pretrainer.stop_then(lambda: self.start_mode(mode, changes)):  # one training at a time
            return
        if self.box_tuner.stop_then(lambda: self.start_mode(mode, changes)):
            return
        from core.train.recipe import default_recipe

        if self.ctx.session.dirty:  # an unchanged mask is never rewritten
            self.ctx.save_now()
        try:
            recipe = default_recipe(mode).updated(**changes)
        except Exception as exc:
            self.ctx.failed("Training recipe", exc)
            return
        self.last = {"kind": "mode", "recipe": recipe, "run_dir": auto_train.new_run_dir(project, mode)}
        self.panel.begin(self.panel.mode_title())
        self.panel.set_running(True)
        self._start_training(resume=False)

    def _start_training(self, resume: bool) -> None:
        self.panel.raise_()  # show the curves of the run being started
        last = self.last
        events = QtTrainEvents(self.panel.signals)
        root, self._job_project = self.ctx.session.root, self.ctx.session.project
        if last["kind"] == "auto":
            from core.hitl.auto_train import run_plan

            self.job = self.ctx.run("Train on my labels", run_plan, last["plan"], root, last["run_dir"],
                                    events=events, resume=resume, previous_checkpoint=last["previous"],
                                    on_done=self._trained, paint_first=True)
        else:
            from core.hitl.modes import run_mode

            self.job = self.ctx.run("Training", run_mode, last["recipe"], root, last["run_dir"], events=events,
                                    resume=resume, on_done=self._trained, paint_first=True)
        self.panel.set_running(True)
        self._watch(self.job)

    # ------------------------------------------------------------------ stopping and finishing
    def _watch(self, job) -> None:
        job.signals.cancelled.connect(lambda _m: self._stopped(True))
        job.signals.failed.connect(lambda _m, _d: self._stopped(False))

    def _stopped(self, cancelled: bool) -> None:
        self.job = None
        run_dir = Path(self.last["run_dir"]) if self.last else None
        can_resume = bool(run_dir and (run_dir / "last_state.pt").exists())
        self.panel.set_running(False, can_resume=can_resume)
        if cancelled:
            kept = f"; last checkpoint kept in {run_dir}" if can_resume else ""
            self.panel.append_log(f"cancelled{kept}")
            self.panel.show_run_state("cancelled" + (" - press Resume to continue" if can_resume else ""))
            self.ctx.status(f"Training cancelled{kept}")

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel_token.cancel()

    def resume(self) -> None:
        if self.job is None and self.last is not None and self.ctx.session is not None:
            self.panel.append_log(f"--- resume {Path(self.last['run_dir']).name} ---")
            self._start_training(resume=True)

    def _trained(self, outcome: dict) -> None:
        self.job = None
        project, segmentation = self._job_project, bool(outcome.get("onnx"))
        s = self.ctx.session
        if s is None or s.project is not project:  # another folder was opened meanwhile
            entry = auto_train.register(project, outcome, make_active=segmentation)
            if outcome.get("cv_pending"):
                self.measurer.start(project, entry.name, outcome["run_dir"])
            return
        entry = auto_train.register(project, outcome, make_active=segmentation)
        self.result_model = entry.name
        self.ctx.predictors.clear()
        self.panel.set_running(False, can_resume=False)
        if segmentation:
            prev = outcome.get("previous_dice")
            text = quality_text(outcome)
            if prev is not None:
                text += f" (previous model {prev:.3f} on the same validation images)"
            elif not outcome.get("previous"):  # a previous model unscored: its validation images trained this one
                text += " (first model)"
            text += f" - {entry.name} is now the active model"
        else:
            text = f"{entry.name} saved; Train on my labels will warm-start from it"
        self.panel.show_result(text)
        self.panel.show_run_state(f"done in {outcome.get('elapsed_s', 0):.0f} s")
        self.ctx.status(text)
        self.registered.emit()
        self.show_plan()
        self.tune_root = s.root if segmentation and self.last and self.last.get("kind") == "auto" else None
        if outcome.get("cv_pending"):  # the interval: cross-validation over groups, in the background
            self.measurer.start(project, entry.name, outcome["run_dir"])
        else:
            self._tune_box_tool()
        if outcome.get("mode") == "pseudo-label":
            self.review_wanted.emit()

    def _measured(self, name: str, _metrics: dict) -> None:
        """The background cross-validation is done (or was cancelled): the result line and the library follow."""
        self.ctx.predictors.clear()  # the quality estimate was refitted on the folds' held-out labels
        s = self.ctx.session
        entry = s.project.model(name) if s is not None else None
        if entry is not None and name == self.result_model:
            text = quality_text(entry.metrics)
            prev = entry.metrics.get("previous_val_dice")
            text += f" (previous model {prev:.3f} on the same validation images)" if prev is not None else ""
            text += f" - {name} is the active model" if s.project.active_model == name else f" - {name}"
            self.panel.show_result(text)
            self.ctx.status(text)
        self.registered.emit()
        self._tune_box_tool()

    def _tune_box_tool(self) -> None:
        """After Train on my labels (and its interval): LiteMedSAM's decoder tuned on the labels, in the background."""
        root, self.tune_root = self.tune_root, None
        s = self.ctx.session
        if root is not None and s is not None and s.root == root and not self.measurer.running:
            self.box_tuner.start(root)

    def _box_tuned(self, text: str) -> None:
        """The box tool's tuning finished: the figures go to the log and the status line."""
        self.panel.append_log(text)
        self.ctx.status(text)
