"""Background MIM pretraining in the status bar: start by one click, progress, cancel (kept, resumable),
and Train on my labels stopping it and warm-starting from it."""

from __future__ import annotations

import os
import threading

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
