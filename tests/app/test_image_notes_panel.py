"""Per-image flags and a note in the dataset dock: stored at once, shown again after the folder is
reopened, and the list filters by flag."""

from __future__ import annotations

from PySide6 import QtCore


def test_flags_and_note_persist_and_filter(window, thyroid_copy, qtbot):
    w = window
    assert w.open_folder(thyroid_copy, select=1)
    box = w.image_notes.box
    assert box.isEnabled() and box.values() == ([], "")
    first = w.session.sample.id
    qtbot.mouseClick(box.flags["unsure"], QtCore.Qt.MouseButton.LeftButton)
    box.note.setText("gland edge under the burned-in text")
    box.note.editingFinished.emit()
    assert w.select(2)
    assert box.values() == ([], "")                                   # the next image has no note
    qtbot.mouseClick(box.flags["skip"], QtCore.Qt.MouseButton.LeftButton)
    second = w.session.sample.id

    assert w.open_folder(thyroid_copy, select=1)                       # reopen: everything is back
    assert w.session.sample.id == first
    assert w.image_notes.box.values() == (["unsure"], "gland edge under the burned-in text")
    text = w.dataset.model.data(w.dataset.model.index(w.dataset.model.rows.index(1)))
    assert "unsure" in text
    w.dataset.flag.setCurrentText("skip")
    shown = [w.session.index[p].id for p in w.dataset.model.rows]
    assert shown == [second]
    w.dataset.flag.setCurrentText("all")
    assert len(w.dataset.model.rows) == len(w.session.index)
