"""Background MIM pretraining while the user annotates: a status-bar item with its progress and one
button (Pretrain / Resume / Cancel), and the job in its own one-thread pool at idle priority
(``core.hitl.background_pretrain``). Train on my labels asks it to stop first, then warm-starts from it.
Labels saved where the pretraining will not embed them (it has ended, the folder is too small for it, or a
model exists) are embedded by a short job in the same item once the user pauses (ADR 0015, seventh addendum).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from PySide6 import QtCore, QtGui, QtWidgets

from app import preferences
from app.background_item import BackgroundItem
from app.workers import Job, show_error
from core.hitl import background_pretrain as bp
from core.train.events import TrainEvents

log = logging.getLogger("toothseg.app.pretrain")
PREFERENCE = "background_pretraining"   # start by itself when a folder opens (bool)
AUTO_DEFAULT = True                     # ADR 0017: it lifted 20-label Dice on unseen videos
ENV = "TOOTHSEG_BACKGROUND_PRETRAIN"    # "0" / "1" overrides the preference (the test suite sets "0")
START_DELAY_MS = 3000                   # let the folder open and the first image draw first
EMBED_DELAY_MS = 10_000                 # new labels are embedded once the user pauses this long


class _Signals(QtCore.QObject):
    epoch = QtCore.Signal(int, float)    # epoch, minutes of the budget used


class _Events(TrainEvents):
    def __init__(self, signals: _Signals):
        self.signals = signals

    def on_epoch(self, epoch, metrics):
        self.signals.epoch.emit(int(epoch), float(metrics.get("time_s", 0.0)) / 60)


class BackgroundPretrainer(BackgroundItem):
    """Owns the job, the status-bar item, and the hand-over to Train on my labels."""

    def __init__(self, window: QtWidgets.QMainWindow, enabled: bool = True,
                 training_busy: Callable[[], bool] = lambda: False, on_registered: Callable[[], None] = lambda: None):
        """``training_busy()`` says a training runs (no auto start then); ``on_registered()`` refreshes the
        model library and the plan once a pretraining of the folder shown is kept."""
        super().__init__(window, "pretrain", stopping="Stopping pretraining…", button_name="pretrainButton",
                         widest_label="Pretraining: 10.0/10 min (epoch 999)", widest_button="Resume")
        self.enabled = enabled
        self.training_busy, self.on_registered = training_busy, on_registered
        self.session = None
        self.job_session = None  # the session the running job belongs to (the user may open another)
        self.signals = _Signals()
        self.signals.epoch.connect(self._epoch)
        self.timer = QtCore.QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self._auto_start)
        self.embedder = None     # core.hitl.background_embed.LabelEmbedder, kept between runs (it knows what is done)
        self.embedding = False   # the running job embeds new labels (not the pretraining)
        self.labels_seen = -1    # the label count the last embedding (or the session's start) saw
        self.embed_timer = QtCore.QTimer(self)
        self.embed_timer.setSingleShot(True)
        self.embed_timer.timeout.connect(self._embed_new)
        self._add_menu_toggle()

    # ------------------------------------------------------------------ state
    def auto(self) -> bool:
        env = os.environ.get(ENV, "")
        if env in ("0", "1"):
            return env == "1"
        return bool(preferences.get(PREFERENCE, AUTO_DEFAULT))

    def _add_menu_toggle(self) -> None:
        """Model -> Pretrain in the background: whether opening a folder starts it by itself."""
        menu = self.w.findChild(QtWidgets.QMenu, "modelMenu")
        self.action = QtGui.QAction("Pretrain in the background", self.w)
        self.action.setObjectName("pretrainAuto")
        self.action.setCheckable(True)
        self.action.setChecked(bool(preferences.get(PREFERENCE, AUTO_DEFAULT)))  # the user's choice
        self.action.setToolTip("When a folder opens, learn from its images (no labels needed) at idle priority "
                               "until the first Train on my labels")
        self.action.toggled.connect(lambda on: preferences.put(PREFERENCE, bool(on)))
        if menu is not None:
            menu.addSeparator()
            menu.addAction(self.action)

    def session_changed(self, session) -> None:
        self.cancel()
        self.session = session
        self.labels_seen = len(session.index.labeled()) if session is not None else -1
        self.refresh()
        if session is not None and self.enabled and self.auto():
            self.timer.start(START_DELAY_MS)

    def _state(self) -> dict:
        s = self.session
        return bp.status(s.project, len(s.index))

    def refresh(self) -> None:
        s = self.session
        if s is None or not self.enabled:
            self.widget.setVisible(False)
            return
        st = self._state()
        self.widget.setVisible(st["enough_images"] or st["registered"])
        if self.running:
            return
        if st["finished"]:
            self.label.setText(f"Pretrained on this folder ({st['minutes_done'] or bp.MINUTES:g} min)")
            self.button.setVisible(False)
            return
        self.button.setVisible(True)
        if st["minutes_done"] or st.get("resumable"):
            self.label.setText(f"Pretraining paused: {st['minutes_done']:.1f}/{bp.MINUTES:g} min")
            self.button.setText("Resume")
        else:
            self.label.setText(f"{st['images']} images")
            self.button.setText("Pretrain")
        self.button.setToolTip("Learn from this folder's images (no labels needed) in the background, at idle "
                               "priority, so the first Train on my labels starts from it")

    def _auto_start(self) -> None:
        s = self.session
        if s is None or self.running or s.project.active_model:
            return
        st = self._state()
        if st["enough_images"] and not st["finished"] and not self.training_busy():
            self.start()

    # ------------------------------------------------------------------ actions
    def button_clicked(self) -> None:
        """Pretrain / Resume, or Cancel while it runs."""
        self.cancel() if self.running else self.start()

    def start(self) -> None:
        s = self.session
        if s is None or self.running:
            return
        job = Job(bp.run, s.root, minutes=bp.MINUTES, events=_Events(self.signals))
        job.signals.done.connect(self._done)
        job.signals.failed.connect(self._failed)
        job.signals.cancelled.connect(lambda _m: self._finished(None))
        self.job_session = s
        self.button.setText("Cancel")
        self.button.setVisible(True)
        self.launch(job, f"Pretraining on {len(s.index)} images…")
        log.info("background pretraining started on %s", s.root)

    def cancel(self) -> None:
        self.timer.stop()
        self.embed_timer.stop()
        super().cancel()

    def labels_changed(self) -> None:
        """A dataset row changed: when it added a label, embed it for the next Train on my labels once the user
        pauses -- unless the pretraining does (it embeds after every epoch) or is about to start."""
        s = self.session
        if s is None or not self.enabled or not self.auto() or self.timer.isActive():
            return
        if len(s.index.labeled()) > self.labels_seen:
            self.embed_timer.start(EMBED_DELAY_MS)

    def _embed_new(self) -> None:
        s = self.session
        if s is None or self.running or self.training_busy():
            return   # the pretraining embeds after each epoch; a training encodes what it lacks itself
        from core.hitl.background_embed import LabelEmbedder, embed_idle

        self.embedder = self.embedder or LabelEmbedder()
        self.labels_seen = len(s.index.labeled())
        job = Job(embed_idle, self.embedder, s.root)
        job.signals.done.connect(self._embedded)
        job.signals.failed.connect(lambda message, _details: self._embedded({"error": message}))
        job.signals.cancelled.connect(lambda _m: self._embedded(None))
        self.embedding = True
        self.button.setText("Cancel")
        self.button.setVisible(True)
        self.launch(job, "Preparing new labels for Train on my labels…",
                    tip="LiteMedSAM embeddings of the new labels and their views, at idle priority")

    def stop_then(self, action: Callable[[], None]) -> bool:
        """Stop a running pretraining and call ``action`` once its checkpoint is registered; False (and
        ``action`` not called) when nothing runs."""
        self.timer.stop()
        return super().stop_then(action)

    # ------------------------------------------------------------------ job results (UI thread)
    def _epoch(self, epoch: int, minutes: float) -> None:
        self.label.setText(f"Pretraining: {minutes:.1f}/{bp.MINUTES:g} min (epoch {epoch})")

    def _done(self, result: dict) -> None:
        self._finished(result)

    def _embedded(self, result: dict | None) -> None:
        """The label embedding ended: say what it did (a failure only means the training embeds them)."""
        self.embedding = False
        if not self.end():
            return
        self.label.setToolTip("")
        result = result or {}
        if result.get("error"):
            self.w.status.message(f"Preparing new labels failed ({result['error']}); Train on my labels will "
                                  "embed them itself")
        elif result.get("embedded"):
            self.w.status.message(f"New labels ready for Train on my labels ({result['embedded']} inputs embedded "
                                  f"in {result.get('seconds', 0):.0f} s)")
        self.refresh()
        self.run_then()
        self.labels_changed()   # labels saved while it ran

    def _failed(self, message: str, details: str) -> None:
        self.job_session = None
        if self.end():
            self.run_then(run=False)
            show_error(self.w, "Background pretraining", message, details)
            self.refresh()

    def _finished(self, result: dict | None) -> None:
        session, self.job_session = self.job_session, None
        alive = self.end()
        entry = None
        if session is not None:
            try:
                entry = bp.register(session.project, result)
            except Exception as exc:  # a damaged checkpoint: say so, the editor carries on
                if alive:
                    show_error(self.w, "Background pretraining", f"could not keep the pretraining: {exc}")
        if not alive:  # the window closed while it ran: the checkpoint is kept, nobody to tell
            return
        if entry is not None:
            self.w.status.message(f"Pretraining kept: Train on my labels starts from {entry.name}")
            if session is self.session:
                self.on_registered()
        self.refresh()
        self.run_then()
