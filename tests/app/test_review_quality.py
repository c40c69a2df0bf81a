"""The review queue ranked by estimated Dice with flagged masks coloured and kept out of bulk accept, and
the Evaluation panel's origins and split descriptions, on real thyroid frames with a tiny real model."""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtWidgets

from core.data.project import Project
from tests.app.test_hitl_panels import errors, register_copy, tiny_models  # noqa: F401  (fixture)
from tests.core.test_hitl_auto_train import thyroid_copy

SHOTS = Path("/tmp")


def shot(widget, name: str) -> Path:
    path = SHOTS / f"issue16_{name}.png"
    widget.grab().save(str(path))
    return path


def test_review_queue_estimates_flags_and_bulk_accept(qtbot, window, shared_data, tmp_path, tiny_models):  # noqa: F811
    from app.panels.review import FLAGGED_BG

    root = thyroid_copy(shared_data / "tg3k_thyroid", tmp_path / "thyroid", labeled=5, unlabeled=4)
    register_copy(root, "tiny", *tiny_models[0])
    assert window.open_folder(root)
    ctl, panel = window.hitl, window.hitl.review
    assert [panel.order.itemText(i) for i in range(2)] == ["Most likely right first", "Most likely wrong first"]
    ctl.predict("unlabeled")
    qtbot.waitUntil(lambda: panel.table.rowCount() == 4, timeout=60000)
    headers = [panel.table.horizontalHeaderItem(c).text() for c in range(panel.table.columnCount())]
    assert headers[:3] == ["Image", "Est. Dice", "Check"]
    shown = [float(panel.table.item(r, 1).text()) for r in range(4)]
    assert all(0.0 <= q <= 1.0 for q in shown)
    ranked = ctl.queue.pending("right")
    assert [round(x.quality, 2) for x in ranked] == shown and [x.id for x in ranked] == panel.ids
    # make the verdicts deterministic: two likely right, one doubtful, one flagged (a real predicted mask each)
    verdicts = [(0.92, []), (0.88, []), (0.55, []), (0.97, ["much smaller or larger than your labels"])]
    for item in ranked:
        item.trusted = False                                             # a tiny model's estimate proves nothing
    ctl.refresh_review()
    assert "off" in panel.bulk_button.text() and not panel.bulk_button.isEnabled()
    for item, (quality, flags) in zip(ranked, verdicts, strict=True):
        item.quality, item.flags, item.plausible, item.trusted = quality, flags, not flags, True
    ctl.queue.save()
    ctl.refresh_review()
    flagged_id = ranked[3].id
    assert panel.ids[-1] == flagged_id                                   # flagged last when "right" first
    row = panel.ids.index(flagged_id)
    assert panel.table.item(row, 0).background().color() == FLAGGED_BG
    assert "smaller or larger" in panel.table.item(row, 2).text()
    assert panel.bulk_button.text().startswith("Accept 2 likely right") and panel.bulk_button.isEnabled()
    panel.setMinimumSize(520, 360)
    print("review panel:", shot(panel, "review_queue"))
    panel.order.setCurrentIndex(1)                                       # most likely wrong first
    assert panel.ids[0] == flagged_id and panel.ids[1] == ranked[2].id
    panel.order.setCurrentIndex(0)
    panel.bulk_button.click()                                            # the fixture answers yes
    status = Project.open(root).status
    assert sorted(k for k, v in status.items() if v == "reviewed") == sorted(x.id for x in ranked[:2])
    assert flagged_id in ctl.queue.items and panel.table.rowCount() == 2 and not panel.bulk_button.isEnabled()
    window.ask = lambda question: False                                  # Y on a flagged mask asks first
    panel.select(flagged_id)
    panel.buttons["accept"].click()
    assert flagged_id in ctl.queue.items
    window.ask = lambda question: True
    panel.select(flagged_id)
    panel.buttons["accept"].click()
    assert flagged_id not in ctl.queue.items and Project.open(root).status[flagged_id] == "reviewed"
    assert not errors(window)


def test_evaluation_rows_say_their_origin_and_all_warns(qtbot, window, shared_data, tmp_path, tiny_models):  # noqa: F811
    root = thyroid_copy(shared_data / "tg3k_thyroid", tmp_path / "thyroid", labeled=6, unlabeled=0)
    register_copy(root, "tiny", *tiny_models[0])
    project = Project.open(root)
    stems = sorted(p.stem for p in (root / "images").iterdir())
    splits = dict(zip(stems, ["train"] * 4 + ["val", "test"], strict=True))
    from core.data.layouts import load_index

    for s in load_index(root):
        project.set_split(s.id, splits[s.image.stem])
    project.save()
    assert window.open_folder(root)
    e = window.hitl.evaluation
    texts = [e.split.itemText(i) for i in range(e.split.count())]
    assert texts == ["test: 1 held out, never used in training", "val: 1 that chose the checkpoint and its rules",
                     "held out (val + test): 2", "train: 4 the model learned from (optimistic)",
                     "all: 6 = 4 train + 1 val + 1 test (includes training images)"]
    e.select_split("all")
    e.run_button.click()
    qtbot.waitUntil(lambda: e.table.rowCount() == 6, timeout=90000)
    headers = [e.table.horizontalHeaderItem(c).text() for c in range(e.table.columnCount())]
    origin_col = headers.index("Origin")
    shown = sorted(e.table.item(r, origin_col).text() for r in range(6))
    assert shown == ["test", "train", "train", "train", "train", "val"]
    assert "by origin: train" in e.summary.text() and "flatters the model" in e.summary.text()
    assert all(0.0 <= float(e.table.item(r, origin_col + 1).text()) <= 1.0 for r in range(6))
    dock = e
    dock.setMinimumSize(640, 420)
    print("evaluation panel:", shot(dock, "evaluation_origins"))
    assert not errors(window)
    QtWidgets.QApplication.processEvents()
