"""After Train on my labels on an FDI folder (the numbered-teeth model), predicting a real UFBA-425
panoramic lists the predicted teeth in the Instances tab with their FDI numbers and scores, and flags
low scores and numbers used twice (issue 20)."""

from __future__ import annotations

from PySide6 import QtCore

from core.annotation.instance_list import LOW_SCORE
from core.data.classes import FDI_NUMBERS
from tests.core.teeth_trained import copy_trained


def test_predicted_teeth_are_listed_numbered_scored_and_flagged(window, qtbot, shared_data, tmp_path_factory, tmp_path):
    root = copy_trained(shared_data, tmp_path_factory.mktemp("teeth-run"), tmp_path / "fdi")
    w = window
    assert w.open_folder(root)
    ctl = w.instance_list
    qtbot.waitUntil(lambda: w.session is not None and w.session.sample is not None, timeout=10_000)
    assert ctl.source == "mask"
    w.hitl.show_plan()       # Ctrl+T on this folder trains numbered teeth again, from the active teeth model
    plan = w.hitl.training.plan_label.text()
    assert "numbered teeth (32 FDI numbers)" in plan and "warm start from teeth-" in plan, plan
    w.hitl.predict("current")
    qtbot.waitUntil(lambda: ctl.details is not None, timeout=60_000)
    qtbot.waitUntil(lambda: ctl.source == "prediction" and bool(ctl.items), timeout=10_000)
    teeth = ctl.details[1].instances
    assert len(ctl.items) == len([t for t in teeth if t.area >= ctl.min_area]) > 3
    assert all(it.value in FDI_NUMBERS and 0.0 <= it.score <= 1.0 for it in ctl.items)
    assert sorted(it.score for it in ctl.items) == sorted(t.score for t in teeth if t.area >= ctl.min_area)
    table = ctl.panel.table
    assert table.rowCount() == len(ctl.items) and table.item(0, 0).text().startswith(str(ctl.items[0].value))
    flags = ctl.flags_of(ctl.items)
    values = [it.value for it in ctl.items]
    for it, flag in zip(ctl.items, flags, strict=True):
        assert ("low score" in flag) == (it.score < LOW_SCORE)
        assert (f"number {it.value} used" in flag) == (values.count(it.value) > 1)
        row = ctl.items.index(it)
        assert table.item(row, 2).text() == flag
    if any(flags):
        assert "flagged for review" in ctl.panel.summary.text()
    ctl.panel.raise_()
    ctl.panel.grab().save(str(tmp_path / "instances-teeth.png"))
    w.grab().save(str(tmp_path / "window-teeth.png"))
    QtCore.QThreadPool.globalInstance().waitForDone(30_000)
