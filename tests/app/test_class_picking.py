"""Picking one of 32 teeth and painting without overpainting, on a real FDI panoramic: the dental
chart, the search field, the eyedropper (Alt+click), brush size on Ctrl+wheel, paint modes, locked
and hidden classes, and the confirmation before a huge fill."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from tests.app.conftest import copy_subset, to_viewport

LEFT = QtCore.Qt.MouseButton.LeftButton
ALT = QtCore.Qt.KeyboardModifier.AltModifier


@pytest.fixture
def teeth(window, shared_data, tmp_path):
    root = copy_subset(shared_data / "ufba425_teeth", tmp_path / "teeth", n=1)
    assert window.open_folder(root)
    assert window.classes.chart.isVisible()                         # FDI table: the chart is shown
    return window


def centre(labels: np.ndarray, value: int) -> tuple[float, float]:
    ys, xs = np.nonzero(labels == value)
    k = np.argmin((ys - ys.mean()) ** 2 + (xs - xs.mean()) ** 2)     # a pixel of the tooth near its centre
    return float(xs[k]) + 0.5, float(ys[k]) + 0.5


def test_chart_search_and_eyedropper_pick_teeth(teeth, qtbot):
    w = teeth
    qtbot.mouseClick(w.classes.chart.buttons[36], LEFT)
    assert w.tools.value == 36 and w.classes.active_value() == 36
    assert not w.classes.chart.buttons[55].isVisible()               # no deciduous row on a permanent table
    w.classes.search.setText("27")
    shown = [i for i in range(w.classes.list.count()) if not w.classes.list.item(i).isHidden()]
    assert [w.classes.classes[i].value for i in shown] == [27]
    qtbot.keyClick(w.classes.search, QtCore.Qt.Key.Key_Return)
    assert w.tools.value == 27
    w.classes.search.clear()
    labels = w.session.editor.labels
    x, y = centre(labels, 45)
    qtbot.mouseClick(w.canvas.viewport(), LEFT, ALT, pos=to_viewport(w, x, y))
    assert w.tools.value == 45 and w.classes.chart.buttons[45].isChecked()
    assert np.array_equal(w.session.editor.labels, labels)             # picking paints nothing


def test_ctrl_wheel_sizes_the_brush(teeth, qtbot):
    w = teeth
    w.tools.set_radius(10)
    zoom = w.canvas.zoom_percent()
    vp = w.canvas.viewport()
    pos = QtCore.QPointF(to_viewport(w, 200, 200))
    for mods in (QtCore.Qt.KeyboardModifier.ControlModifier, ALT):
        ev = QtGui.QWheelEvent(pos, vp.mapToGlobal(pos), QtCore.QPoint(), QtCore.QPoint(0, 120),
                               QtCore.Qt.MouseButton.NoButton, mods, QtCore.Qt.ScrollPhase.NoScrollPhase, False)
        QtWidgets.QApplication.sendEvent(vp, ev)
    assert w.tools.radius == pytest.approx(10 * 1.15 ** 2)
    assert w.layers.radius.value() == pytest.approx(10 * 1.15 ** 2, abs=0.1)
    assert w.canvas.zoom_percent() == pytest.approx(zoom)              # the view did not zoom


def test_paint_modes_locks_and_hidden_classes(teeth, qtbot):
    w = teeth
    start = w.session.editor.labels.copy()
    a, b = centre(start, 11), centre(start, 12)
    w.classes.select_value(11)
    w.set_tool("brush")
    w.tools.set_radius(10)
    w.layers.paint_mode.setCurrentIndex(w.layers.paint_mode.findData("others"))
    assert w.tools.paint_mode == "others"
    w.tools.press(*a)
    w.tools.move(*b)
    w.tools.release(*b)
    labels = w.session.editor.labels
    assert np.array_equal(labels == 12, start == 12)                    # tooth 12 kept every pixel
    assert np.count_nonzero(labels == 11) > np.count_nonzero(start == 11)
    w.layers.paint_mode.setCurrentIndex(w.layers.paint_mode.findData("all"))
    row12 = next(i for i, c in enumerate(w.classes.classes) if c.value == 12)
    w.classes.list.setCurrentRow(row12)
    qtbot.mouseClick(w.classes.buttons["lock"], LEFT)                   # lock tooth 12
    assert "[locked]" in w.classes.list.item(row12).text()
    w.classes.select_value(11)
    before = w.session.editor.labels.copy()
    w.tools.press(*a)
    w.tools.move(*b)
    w.tools.release(*b)
    assert np.array_equal(w.session.editor.labels == 12, before == 12)
    row13 = next(i for i, c in enumerate(w.classes.classes) if c.value == 13)
    w.classes.list.item(row13).setCheckState(QtCore.Qt.CheckState.Unchecked)      # hide tooth 13
    w.set_tool("eraser")
    before = w.session.editor.labels.copy()
    c13 = centre(before, 13)
    w.tools.click(*c13)
    assert np.array_equal(w.session.editor.labels == 13, before == 13)  # hidden: out of reach
    w.classes.select_value(13)
    w.set_tool("brush")
    messages = []
    w.tools.message.connect(messages.append)
    w.tools.click(5, 5)
    assert w.session.editor.labels[5, 5] == before[5, 5] and "locked or hidden" in messages[-1]


def test_huge_fill_asks_first(teeth):
    w = teeth
    w.classes.select_value(11)
    w.set_tool("fill")
    asked = []
    w.tools.confirm = lambda question: asked.append(question) or False
    before = w.session.editor.labels.copy()
    w.tools.click(3, 3)                                                  # the background: most of the image
    assert asked and "Fill anyway" in asked[0] and np.array_equal(w.session.editor.labels, before)
    w.tools.confirm = lambda question: True
    w.tools.click(3, 3)
    assert w.session.editor.labels[3, 3] == 11
    w.classes.select_value(37)
    asked.clear()
    w.tools.confirm = lambda question: asked.append(question) or False
    w.tools.click(*centre(before, 36))                                  # one tooth: no question
    assert not asked and w.session.editor.labels[int(centre(before, 36)[1]), int(centre(before, 36)[0])] == 37


def test_enter_in_a_field_gives_the_keys_back_to_the_canvas(teeth, qtbot):
    w = teeth
    w.activateWindow()
    spin = w.layers.radius
    spin.setFocus()
    spin.selectAll()
    qtbot.keyClicks(spin, "5")
    qtbot.keyClick(spin, QtCore.Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: w.canvas.hasFocus(), timeout=10000)
    assert w.tools.radius == 5
    w.classes.select_value(11)
    qtbot.keyClick(w.canvas, QtCore.Qt.Key.Key_4)                     # now a class key, not "54 px"
    qtbot.keyClick(w.canvas, QtCore.Qt.Key.Key_7)
    assert w.tools.value == 47 and w.tools.radius == 5
    w.classes.search.setFocus()
    qtbot.keyClicks(w.classes.search, "tooth")
    qtbot.keyClick(w.classes.search, QtCore.Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: w.canvas.hasFocus(), timeout=10000)


def test_a_field_made_later_gives_the_keys_back_too(teeth, qtbot):
    """Fields are watched one by one (no application-wide filter): one added after the window was built
    is watched once it takes the focus, and a field of another window is left alone."""
    w = teeth
    w.activateWindow()
    late = QtWidgets.QLineEdit(w.classes)
    late.show()
    late.setFocus()
    qtbot.waitUntil(lambda: late.hasFocus(), timeout=10000)
    qtbot.keyClick(late, QtCore.Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: w.canvas.hasFocus(), timeout=10000)
    assert late.property("finishKeysWatched")
    other = QtWidgets.QLineEdit()
    w.field_focus._focus_changed(None, other)
    assert not other.property("finishKeysWatched")


def test_a_lone_digit_still_picks_when_the_timer_wakes_early(teeth, qtbot):
    """Qt may wake a timer before its interval; the lone quadrant digit must not be lost then."""
    import time

    w = teeth
    keys = w.class_keys
    keys.digit(4)                                                      # a quadrant: waits for a second digit
    assert keys.typed.pending == 4 and keys.timer.isActive()
    keys.timer.stop()
    keys.typed.since = time.monotonic()                                # as if the timer fired at once
    keys._expired()
    assert keys.typed.pending == 4 and keys.timer.isActive()           # re-armed for the rest of the wait
    qtbot.waitUntil(lambda: keys.typed.pending is None, timeout=10000)
    assert w.classes.active_value() == w.classes.classes[3].value      # the fourth class of the list
