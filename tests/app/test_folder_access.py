"""The window on a folder another instance holds, taking over a stale lock, and a stroke on a full disk."""

from __future__ import annotations

import json

import numpy as np
from PySide6 import QtWidgets

from app.main_window import MainWindow
from core.data.io import read_mask
from core.errors import DiskFullError
from tests.app.conftest import copy_subset
from tests.core.test_annotation_session import read_only


def _window(qtbot) -> MainWindow:
    w = MainWindow()
    w.ask = lambda q: True
    qtbot.addWidget(w)
    w.autosave.timer.stop()
    w.resize(1200, 800)
    w.show()
    qtbot.waitExposed(w)
    return w


def _boxes(w: MainWindow, name: str) -> list[QtWidgets.QMessageBox]:
    return [b for b in w.findChildren(QtWidgets.QMessageBox, name) if b.isVisible()]


def test_second_window_is_read_only_says_who_and_keeps_nothing(qtbot, shared_data, tmp_path):
    root = copy_subset(shared_data / "ufba425_teeth", tmp_path / "teeth", n=2)
    first, second = _window(qtbot), _window(qtbot)
    assert first.open_folder(root) and second.open_folder(root)
    assert not first.session.read_only and second.session.read_only
    assert not first.folder_access.label.isVisible()
    label = second.folder_access.label
    assert label.isVisible() and "in use by" in label.text() and "ToothSeg Studio" in label.text()
    assert "since" in label.toolTip()
    assert "(read-only)" in second.windowTitle()
    boxes = _boxes(second, "lockedBox")
    assert len(boxes) == 1 and "read-only" in boxes[0].text() and "in use by" in boxes[0].text()
    boxes[0].grab().save("/tmp/folder_locked_box.png")
    assert not second.folder_access.take.isVisible()            # the holder is alive: no take-over offered
    second.grab().save("/tmp/folder_locked.png")

    before = second.session.editor.labels.copy()
    second.set_tool("brush")
    second.tools.click(150, 150)                                 # refused: the edit is taken back
    assert np.array_equal(second.session.editor.labels, before) and not second.session.dirty
    assert any("Read-only" in b.text() for b in _boxes(second, "errorBox"))

    first.set_tool("brush")
    first.tools.click(150, 150)
    first.save_now()
    assert read_mask(first.session.sample.mask)[150, 150] == first.tools.value
    for b in _boxes(second, "lockedBox") + _boxes(second, "errorBox"):
        b.close()
    second.close()                                               # a read-only window closes without saving
    first.close()
    assert not (root / ".toothseg" / "lock.json").exists()


def test_stale_lock_is_taken_over_and_the_old_window_turns_read_only(qtbot, shared_data, tmp_path):
    root = copy_subset(shared_data / "ufba425_teeth", tmp_path / "teeth", n=2)
    old, new = _window(qtbot), _window(qtbot)
    assert old.open_folder(root)
    old.set_tool("brush")
    old.tools.click(120, 120)                                    # unsaved when the old machine goes silent
    for lock in old.session.lock.locks:
        data = json.loads(lock.path.read_text())
        data["heartbeat"] -= 3600
        lock.path.write_text(json.dumps(data))
    assert new.open_folder(root) and new.session.read_only
    assert new.folder_access.take.isVisible()
    new.grab().save("/tmp/folder_stale_lock.png")
    assert new.folder_access.take_over()
    assert not new.session.read_only and not new.folder_access.label.isVisible()
    assert read_mask(new.session.index[0].mask)[120, 120] == old.tools.value   # its stroke restored
    old.folder_access.beat()
    assert old.session.read_only and old.folder_access.label.isVisible()
    assert any("taken over" in b.windowTitle().lower() for b in _boxes(old, "errorBox"))
    old.grab().save("/tmp/folder_taken_over.png")


def test_stroke_on_a_full_disk_is_a_clear_message_not_an_unexpected_error(qtbot, shared_data, tmp_path,
                                                                           monkeypatch):
    root = copy_subset(shared_data / "ufba425_teeth", tmp_path / "teeth", n=1)
    w = _window(qtbot)
    assert w.open_folder(root)
    journal = w.session.journal

    def full(*args, **kwargs):
        raise DiskFullError("The disk is full: the last stroke could not be written to the recovery journal x.")

    monkeypatch.setattr(journal, "append", full)
    w.set_tool("brush")
    w.tools.click(200, 200)
    assert w.session.editor.labels[200, 200] == w.tools.value and w.session.dirty   # the stroke stays
    texts = [b.text() for b in _boxes(w, "errorBox")]
    assert texts and all("Unexpected" not in t for t in texts) and "disk is full" in texts[0]
    assert "disk is full" in w.statusBar().currentMessage()
    w.tools.click(220, 220)                                      # one dialog, then the status bar
    assert len(_boxes(w, "errorBox")) == 1
    monkeypatch.undo()
    w.save_now()
    assert read_mask(w.session.sample.mask)[220, 220] == w.tools.value


def test_read_only_dataset_folder_is_named_in_the_status_bar(qtbot, shared_data, tmp_path):
    root = copy_subset(shared_data / "tg3k_thyroid", tmp_path / "ro", n=2)
    with read_only(root, root / "images", root / "masks"):
        w = _window(qtbot)
        assert w.open_folder(root)
        assert not w.session.read_only and w.session.project.in_user_data
        label = w.folder_access.label
        assert label.isVisible() and "Read-only folder" in label.text() and str(w.session.project.dir) in label.toolTip()
        assert not w.folder_access.take.isVisible()
        w.grab().save("/tmp/folder_read_only_dataset.png")
        w.close()
