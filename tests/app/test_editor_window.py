"""The editor window on real data: open every dataset, edit with real mouse events, autosave, reopen."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtCore, QtGui, QtWidgets
from pytestqt.qtbot import QtBot

from app.main_window import MainWindow
from core.data.io import read_mask
from core.data.layouts import load_index
from tests.app.conftest import DATASETS, to_viewport

LEFT = QtCore.Qt.MouseButton.LeftButton


@pytest.mark.parametrize("dataset", DATASETS)
def test_opens_every_real_dataset(window, shared_data, dataset):
    root = shared_data / dataset
    assert window.open_folder(root)
    index = load_index(root)
    assert window.dataset.model.rowCount() == len(index)
    mask = read_mask(index[0].mask)
    assert window.canvas.labels.shape == mask.shape
    rgba = window.canvas.layers["mask"].buffer
    assert (rgba[..., 3] > 0).sum() == (mask > 0).sum()          # every labelled pixel is painted
    assert not (root / ".toothseg").exists()                      # opening writes nothing


def drag(qtbot: QtBot, window, points):
    vp = window.canvas.viewport()
    qtbot.mousePress(vp, LEFT, pos=to_viewport(window, *points[0]))
    for p in points[1:]:
        qtbot.mouseMove(vp, to_viewport(window, *p))
    qtbot.mouseRelease(vp, LEFT, pos=to_viewport(window, *points[-1]))


def click(qtbot: QtBot, window, x, y):
    qtbot.mouseClick(window.canvas.viewport(), LEFT, pos=to_viewport(window, x, y))


def double_click(window, x, y):
    """What a real double click delivers: press, release, double-click (instead of press), release."""
    vp = window.canvas.viewport()
    pos = QtCore.QPointF(to_viewport(window, x, y))
    glob = QtCore.QPointF(vp.mapToGlobal(pos.toPoint()))
    for kind, buttons in ((QtCore.QEvent.Type.MouseButtonPress, LEFT),
                          (QtCore.QEvent.Type.MouseButtonRelease, QtCore.Qt.MouseButton.NoButton),
                          (QtCore.QEvent.Type.MouseButtonDblClick, LEFT),
                          (QtCore.QEvent.Type.MouseButtonRelease, QtCore.Qt.MouseButton.NoButton)):
        ev = QtGui.QMouseEvent(kind, pos, glob, LEFT, buttons, QtCore.Qt.KeyboardModifier.NoModifier)
        QtWidgets.QApplication.sendEvent(vp, ev)


def test_mouse_editing_undo_redo_autosave_and_reopen(qtbot, window, thyroid_copy):
    assert window.open_folder(thyroid_copy)
    labels = window.session.editor.labels
    start = labels.copy()
    window.set_tool("brush")
    window.tools.set_radius(6)
    drag(qtbot, window, [(20, 230), (60, 230), (100, 232), (140, 235)])
    assert labels[231, 60] == 1 and labels[231, 100] == 1 and window.session.dirty
    assert window.session.editor.history.undo_steps == 1            # one drag = one record
    window.set_tool("eraser")
    drag(qtbot, window, [(55, 230), (70, 230), (85, 231)])
    assert labels[230, 70] == 0 and labels[231, 100] == 1
    window.set_tool("polygon")
    for x, y in ((160, 20), (220, 20), (220, 60)):
        click(qtbot, window, x, y)
    window.canvas.hover(170, 70)
    assert window.canvas.outline_item.path().elementCount() == 4     # vertices + rubber band to the cursor
    double_click(window, 160, 60)
    assert labels[40, 200] == 1 and labels[10, 200] == 0
    window.set_tool("eraser")
    window.tools.set_radius(3)
    click(qtbot, window, 190, 40)                                   # a hole in the polygon
    assert labels[40, 190] == 0
    window.set_tool("fill")
    click(qtbot, window, 190, 40)
    assert labels[40, 190] == 1
    steps = window.session.editor.history.undo_steps
    assert steps == 5
    window.actions["undo"].trigger()
    assert labels[40, 190] == 0
    window.actions["redo"].trigger()
    assert labels[40, 190] == 1
    edited = labels.copy()
    assert (edited != start).sum() > 500
    window.actions["next"].trigger()                                 # switching autosaves
    window.loader.wait()                                             # the image loads in a worker
    assert window.session.position == 1
    saved = read_mask(thyroid_copy / "masks" / "0000.jpg")
    assert np.array_equal(saved, edited)
    window.actions["previous"].trigger()                             # undo history kept per image
    window.loader.wait()
    assert window.session.editor.history.undo_steps == steps
    window.close()

    again = MainWindow()
    qtbot.addWidget(again)
    assert again.open_folder(thyroid_copy)
    assert np.array_equal(again.session.editor.labels, edited)
    again.autosave.timer.stop()


def test_autosave_timer_saves_while_dirty_and_new_masks_get_a_png(qtbot, window, thyroid_copy):
    assert window.open_folder(thyroid_copy)
    window.actions["first_unlabeled"].trigger()
    window.loader.wait()
    sample = window.session.sample
    assert sample.mask is None and window.session.position == 3
    window.tools.set_radius(10)
    window.tools.click(128, 128)
    assert window.session.dirty
    window.autosave.timer.setInterval(50)
    qtbot.waitUntil(lambda: not window.session.dirty, timeout=10000)
    drawn = window.session.project.drawn_mask_path(sample.id)
    assert drawn.exists() and read_mask(drawn)[128, 128] == 1
    assert window.session.project.status[sample.id] == "labeled"
    assert load_index(thyroid_copy) and window.session.project.path.exists()


def test_lasso_accepts_prediction_and_space_drag_pans(qtbot, window, thyroid_copy):
    assert window.open_folder(thyroid_copy)
    labels = window.session.editor.labels
    labels[:] = 0
    prediction = np.zeros_like(labels)
    prediction[100:200, 20:236] = 1
    window.canvas.set_prediction(prediction)
    window.set_tool("accept_lasso")
    drag(qtbot, window, [(10, 90), (120, 90), (120, 210), (10, 210), (10, 95)])
    assert labels[150, 60] == 1 and labels[150, 200] == 0            # only inside the lasso
    assert window.canvas.outline_item.path().isEmpty()
    before_range = window.canvas.vb.viewRange()
    before_labels = labels.copy()
    window.set_tool("brush")
    qtbot.keyPress(window.canvas, QtCore.Qt.Key.Key_Space)
    drag(qtbot, window, [(128, 128), (100, 110), (60, 80)])
    qtbot.keyRelease(window.canvas, QtCore.Qt.Key.Key_Space)
    assert window.canvas.vb.viewRange() != before_range                # the view moved ...
    assert np.array_equal(labels, before_labels)                      # ... and nothing was painted


def test_read_only_dataset_tells_the_user_where_masks_go(qtbot, window, thyroid_copy):
    from tests.core.test_annotation_session import read_only

    root = thyroid_copy
    with read_only(root, root / "images", root / "masks", root / "unlabeled"):
        assert window.open_folder(root)
        window.tools.click(50, 50)
        window.actions["save"].trigger()
        boxes = window.findChildren(QtWidgets.QMessageBox, "redirectBox")
        assert boxes and "read-only" in boxes[0].text()
        assert str(window.session.project.dir) in boxes[0].text()
        assert not (root / ".toothseg").exists()


def test_middle_drag_pans_and_wheel_zooms(qtbot, window, thyroid_copy):
    assert window.open_folder(thyroid_copy)
    vp, before = window.canvas.viewport(), window.canvas.vb.viewRange()
    middle = QtCore.Qt.MouseButton.MiddleButton
    qtbot.mousePress(vp, middle, pos=to_viewport(window, 128, 128))
    for x in (110, 90, 70):
        qtbot.mouseMove(vp, to_viewport(window, x, 128))
    qtbot.mouseRelease(vp, middle, pos=to_viewport(window, 70, 128))
    QtWidgets.QApplication.processEvents()
    panned = window.canvas.vb.viewRange()
    assert panned[0][0] != before[0][0] and window.session.editor.history.undo_steps == 0
    zoom = window.canvas.zoom_percent()
    pos = QtCore.QPointF(vp.rect().center())
    wheel = QtGui.QWheelEvent(pos, QtCore.QPointF(vp.mapToGlobal(pos.toPoint())), QtCore.QPoint(0, 0),
                              QtCore.QPoint(0, 240), QtCore.Qt.MouseButton.NoButton,
                              QtCore.Qt.KeyboardModifier.NoModifier, QtCore.Qt.ScrollPhase.NoScrollPhase, False)
    QtWidgets.QApplication.sendEvent(vp, wheel)
    QtWidgets.QApplication.processEvents()
    assert window.canvas.zoom_percent() > zoom * 1.2
    assert window.status.labels["zoom"].text() == f"{window.canvas.zoom_percent():.0f} %"
