"""Opening folders and switching images off the UI thread (issue 19): the loading state, no edits on an
image that is not shown yet, errors that reach the user, the newest request winning, and U moving on
from the image just finished."""

from __future__ import annotations

import threading

import numpy as np
from PySide6 import QtCore, QtWidgets

from core.data.io import read_mask
from tests.app.conftest import copy_subset, to_viewport


def errors(window) -> list[str]:
    return [b.text() for b in window.findChildren(QtWidgets.QMessageBox, "errorBox") if b.isVisible()]


def test_u_skips_the_image_just_finished(qtbot, main_window, shared_data, tmp_path):
    root = copy_subset(shared_data / "tg3k_thyroid", tmp_path / "thyroid", n=2, unlabeled=3)
    w = main_window
    assert w.open_folder(root)
    w.autosave.timer.stop()
    qtbot.keyClick(w.canvas, QtCore.Qt.Key.Key_U)
    w.loader.wait()
    first = w.session.position
    assert w.session.sample.mask is None and first == 2
    w.tools.set_radius(10)
    w.tools.click(128, 128)                          # the frame is finished, but not saved yet
    assert w.session.dirty and w.session.sample.status == "unlabeled"
    qtbot.keyClick(w.canvas, QtCore.Qt.Key.Key_U)
    w.loader.wait()
    assert w.session.position == 3                   # not back to the frame just finished
    finished = w.session.index[first]
    assert finished.status == "labeled" and read_mask(w.session.project.drawn_mask_path(finished.id))[128, 128] == 1
    qtbot.keyClick(w.canvas, QtCore.Qt.Key.Key_U)    # nothing drawn on 3: U still moves on, to 4
    w.loader.wait()
    assert w.session.position == 4
    w.tools.click(100, 100)
    w.save_now()
    w.select(3)
    w.tools.click(100, 100)
    qtbot.keyClick(w.canvas, QtCore.Qt.Key.Key_U)    # 3 is the only unlabeled one left: stay, and say so
    w.loader.wait()
    assert w.session.position == 3 and "Every other image has a mask" in w.status.bar.currentMessage()


def test_a_switch_shows_loading_and_refuses_edits_until_the_image_is_there(qtbot, main_window, thyroid_copy):
    w = main_window
    assert w.open_folder(thyroid_copy)
    w.autosave.timer.stop()
    s = w.session
    gate = threading.Event()
    real_load = s.load
    s.load = lambda position: (gate.wait(20), real_load(position))[1]   # a slow disk
    before = s.editor.labels.copy()
    w.actions["next"].trigger()
    assert w.loading and w.canvas.loading and w.canvas.loading_label.isVisible()
    assert "Loading" in w.canvas.loading_label.text()
    w.grab().save("/tmp/issue19_loading_state.png")
    qtbot.mouseClick(w.canvas.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=to_viewport(w, 128, 128))
    w.tools.press(60, 60)                            # the tools refuse too (keys, scripts)
    w.tools.move(90, 90)
    w.tools.release(90, 90)
    w.actions["undo"].trigger()
    assert np.array_equal(s.editor.labels, before) and not s.dirty and s.position == 0
    gate.set()
    qtbot.waitUntil(lambda: not w.loading, timeout=20000)
    assert s.position == 1 and not w.canvas.loading_label.isVisible()
    assert w.canvas.labels is s.editor.labels and w.canvas._raw is s.editor.image
    w.tools.click(40, 40)
    assert s.dirty                                   # editing works again once the image is shown


def test_only_the_newest_switch_is_shown(qtbot, main_window, thyroid_copy):
    w = main_window
    assert w.open_folder(thyroid_copy)
    shown = []
    w.image_shown.connect(shown.append)
    for _ in range(3):                                # PgDown held: each press steps on from the last target
        w.actions["next"].trigger()
    w.loader.wait()
    assert w.session.position == 3 and shown == [3]
    assert w.dataset.list.currentIndex().row() == 3


def test_open_without_waiting_then_errors_reach_the_user(qtbot, main_window, thyroid_copy, tmp_path):
    w = main_window
    assert w.open_folder(thyroid_copy, wait=False)   # returns at once; the index is built in a worker
    assert w.session is None and w.loading and "Opening" in w.canvas.loading_label.text()
    qtbot.waitUntil(lambda: w.session is not None and w.session.editor is not None and not w.loading,
                    timeout=30000)
    assert w.session.position == 0 and w.canvas.has_image and len(w.dataset.model.rows) == 4
    far = w.session.index[3]                         # not prefetched from image 0 (1, 2 are)
    far.image.write_bytes(b"not a jpeg")
    assert not w.select(3)                            # an unreadable image: a dialog, the previous image stays
    assert errors(w) and w.session.position == 0 and not w.loading and not w.canvas.loading_label.isVisible()
    w.tools.click(40, 40)
    assert w.session.dirty
    for box in w.findChildren(QtWidgets.QMessageBox, "errorBox"):
        box.close()
    assert not w.open_folder(tmp_path / "no_such_folder")
    assert errors(w) and w.session is None and w.stack.currentWidget() is w.start
    qtbot.wait(50)                                   # a reveal turn still pending shows nothing now
    assert not w.dataset.isVisible() and not any(d.isVisible() for d in w.hitl.docks)
