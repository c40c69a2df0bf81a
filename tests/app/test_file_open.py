"""macOS Finder's open-document event (QFileOpenEvent) opens a .toothseg pointer's dataset in the window."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6 import QtGui, QtWidgets

from app.file_open import StudioApplication, install_file_open


def _post_file_open(qapp, qtbot, path: Path) -> None:
    """What Qt does for Finder's "open document" Apple event: a FileOpen event to the application."""
    QtWidgets.QApplication.postEvent(qapp, QtGui.QFileOpenEvent(str(path)))
    qtbot.wait(50)


@pytest.fixture
def handler(qapp, window):
    handler = install_file_open(qapp, window)
    assert isinstance(qapp, StudioApplication) and qapp.file_open_handler is handler  # no app-wide filter
    yield handler
    qapp.file_open_handler = None


def test_a_file_open_event_for_a_pointer_opens_its_dataset(qapp, qtbot, window, handler, thyroid_copy, tmp_path):
    pointer = tmp_path / "Thyroid study.toothseg"
    pointer.write_text(json.dumps({"format": "toothseg-pointer", "version": 1, "dataset": "thyroid"}))
    assert window.session is None
    _post_file_open(qapp, qtbot, pointer)
    assert handler.opened == [thyroid_copy.resolve()]
    assert window.session is not None and Path(window.session.root).resolve() == thyroid_copy.resolve()
    assert len(window.session.index) == 4  # 3 labelled + 1 unlabeled real thyroid frames
    assert window.windowTitle().startswith("thyroid - ")
    shot = window.grab()
    assert not shot.isNull()
    shot.save("/tmp/toothseg-file-open.png")


def test_an_empty_pointer_inside_the_dataset_and_a_dropped_folder_open_too(qapp, qtbot, window, handler,
                                                                         thyroid_copy):
    (thyroid_copy / "Here.toothseg").write_text("")
    _post_file_open(qapp, qtbot, thyroid_copy / "Here.toothseg")
    _post_file_open(qapp, qtbot, thyroid_copy)
    assert handler.opened == [thyroid_copy.resolve(), thyroid_copy]
    assert Path(window.session.root).resolve() == thyroid_copy.resolve()


def test_a_broken_pointer_gets_a_message_and_opens_nothing(qapp, qtbot, window, handler, tmp_path):
    pointer = tmp_path / "Moved.toothseg"
    pointer.write_text(json.dumps({"format": "toothseg-pointer", "version": 1, "dataset": "gone"}))
    before = sorted(p.name for p in tmp_path.iterdir())
    _post_file_open(qapp, qtbot, pointer)
    assert handler.opened == [] and window.session is None
    boxes = [w for w in QtWidgets.QApplication.topLevelWidgets()
             if w.objectName() == "errorBox" and w.isVisible()]
    assert boxes and "does not exist" in boxes[-1].text()
    for box in boxes:
        box.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_file_that_is_neither_pointer_nor_folder_gets_a_message(qapp, qtbot, window, handler, tmp_path):
    picture = tmp_path / "photo.jpg"
    picture.write_bytes(b"\xff\xd8")
    _post_file_open(qapp, qtbot, picture)
    assert handler.opened == [] and window.session is None
    boxes = [w for w in QtWidgets.QApplication.topLevelWidgets() if w.objectName() == "errorBox" and w.isVisible()]
    assert boxes and "not other files" in boxes[-1].text()
    for box in boxes:
        box.close()
