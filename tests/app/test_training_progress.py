"""The training bar follows the clock the job's budget counts: the numbered-teeth recipe (and any CPU-budget run)
reports the share of its CPU budget used, which the wall clock overstates or understates on a busy machine."""

from __future__ import annotations

from app.panels.training import QtTrainEvents, TrainingPanel


def test_the_bar_shows_the_budget_share_the_job_reports(qtbot):
    panel = TrainingPanel()
    qtbot.addWidget(panel)
    events = QtTrainEvents(panel.signals)
    events.on_start(10**9, {"mode": "numbered teeth", "device": "cpu"})
    events.on_step(3, 0.5, 1e-3)
    assert panel.progress.value() == 0
    events.on_budget(0.4)
    assert panel.progress.value() == 400
    events.on_step(4, 0.4, 1e-3)                 # a step without a new share keeps the last one
    assert panel.progress.value() == 400 and panel.eta.text().startswith("step 4") and "ETA" in panel.eta.text()
    events.on_start(100, {"mode": "fine-tune", "device": "cpu"})   # a new run forgets the old share
    events.on_step(25, 0.3, 1e-3)
    assert panel.progress.value() == 250
