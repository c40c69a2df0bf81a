"""Every row of the shortcut table, pressed as a real key on the canvas, does what its help says."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtGui, QtWidgets

from app.actions import SHORTCUTS, specs
from app.canvas.view import LAYERS
from app.main_window import CYCLE
from core.data.io import read_mask


@pytest.fixture
def ready(window, thyroid_copy):
    assert window.open_folder(thyroid_copy, select=1)
    mask = window.session.editor.labels.copy()
    window.canvas.set_prediction(np.roll(mask, 12, axis=1))       # a prediction derived from the mask
    window.activateWindow()
    window.canvas.setFocus()
    return window


def press(qtbot, window, key: str) -> None:
    combo = QtGui.QKeySequence(key)[0]
    qtbot.keyClick(window.canvas, combo.key(), combo.keyboardModifiers())
    QtWidgets.QApplication.processEvents()


def _labels(w):
    return w.session.editor.labels


def _stroke(w, x=30, y=30):
    w.set_tool("brush")
    w.tools.click(x, y)


def check_tool(name):
    def check(qtbot, w, key):
        w.set_tool("brush" if name != "brush" else "eraser")
        press(qtbot, w, key)
        assert w.tools.tool == name and w.actions[name].isChecked()
    return check


def check_size(factor):
    def check(qtbot, w, key):
        w.tools.set_radius(10)
        press(qtbot, w, key)
        assert w.tools.radius == pytest.approx(10 * factor)
        assert w.layers.radius.value() == pytest.approx(10 * factor)
    return check


def check_close_polygon(qtbot, w, key):
    w.set_tool("polygon")
    w.tools.points = [(100, 100), (140, 100), (140, 140)]
    press(qtbot, w, key)
    assert _labels(w)[130, 135] == w.tools.value and w.tools.points == []


def check_cancel_polygon(qtbot, w, key):
    w.set_tool("polygon")
    w.tools.points = [(10, 10), (40, 10), (40, 40)]
    before = _labels(w).copy()
    press(qtbot, w, key)
    assert w.tools.points == [] and np.array_equal(_labels(w), before)


def check_accept_all(qtbot, w, key):
    press(qtbot, w, key)
    assert np.array_equal(_labels(w), w.canvas.prediction)


def check_islands(qtbot, w, key):
    _labels(w)[5, 5] = 1
    press(qtbot, w, key)
    assert _labels(w)[5, 5] == 0


def check_undo(qtbot, w, key):
    before = _labels(w).copy()
    _stroke(w)
    press(qtbot, w, key)
    assert np.array_equal(_labels(w), before)


def check_redo(qtbot, w, key):
    _stroke(w)
    after = _labels(w).copy()
    w.actions["undo"].trigger()
    press(qtbot, w, key)
    assert np.array_equal(_labels(w), after)


def check_save(qtbot, w, key):
    _stroke(w, 200, 20)
    press(qtbot, w, key)
    assert not w.session.dirty
    assert np.array_equal(read_mask(w.session.sample.mask), _labels(w))


def check_step(delta):
    def check(qtbot, w, key):
        w.select(1)
        press(qtbot, w, key)
        w.loader.wait()                    # keys switch without blocking: the image loads in a worker
        assert w.session.position == 1 + delta
    return check


def check_first_unlabeled(qtbot, w, key):
    w.select(0)
    press(qtbot, w, key)
    w.loader.wait()
    assert w.session.position == 3 and w.session.sample.mask is None


def check_fit(qtbot, w, key):
    w.canvas.vb.scaleBy((0.2, 0.2))
    press(qtbot, w, key)
    (x0, x1), (y0, y1) = w.canvas.vb.viewRange()
    assert x0 <= 0 and y0 <= 0 and x1 >= 256 and y1 >= 256 and min(x1 - x0, y1 - y0) < 256 * 1.1


def check_actual_size(qtbot, w, key):
    press(qtbot, w, key)
    assert w.canvas.zoom_percent() == pytest.approx(100, rel=0.02)


def check_toggle(layer):
    def check(qtbot, w, key):
        before = w.canvas.layer_visible(layer)
        press(qtbot, w, key)
        assert w.canvas.layer_visible(layer) != before
        assert w.layers.visible[layer].isChecked() != before
    return check


def check_cycle(qtbot, w, key):
    expected = CYCLE[(w._cycle + 1) % len(CYCLE)]
    press(qtbot, w, key)
    assert {n for n in LAYERS[1:] if w.canvas.layer_visible(n)} == set(expected)


def check_contour(qtbot, w, key):
    press(qtbot, w, key)
    assert w.canvas.contour
    rgba = w.canvas.layers["mask"].buffer
    assert 0 < (rgba[..., 3] > 0).sum() < (_labels(w) > 0).sum()   # only outlines are drawn
    press(qtbot, w, key)
    assert not w.canvas.contour


def check_open(qtbot, w, key, monkeypatch=None):
    target = w.session.root
    w._test_monkeypatch.setattr(QtWidgets.QFileDialog, "getExistingDirectory",
                                staticmethod(lambda *a, **k: str(target)))
    w.session = None
    press(qtbot, w, key)                   # the folder opens in a worker (menus and keys never wait for it)
    qtbot.waitUntil(lambda: w.session is not None, timeout=10000)
    assert w.session.root == target


def check_help(qtbot, w, key):
    press(qtbot, w, key)
    dialogs = [d for d in w.findChildren(QtWidgets.QDialog, "helpDialog") if d.isVisible()]
    assert dialogs
    text = dialogs[-1].text.toPlainText()
    assert all(spec.text in text for spec in SHORTCUTS)
    dialogs[-1].close()


def check_preferences(qtbot, w, key):
    from app.preferences_dialog import PreferencesDialog

    shown = []
    w._test_monkeypatch.setattr(PreferencesDialog, "exec", lambda self: shown.append(self) or 0)
    press(qtbot, w, key)
    assert shown and shown[0].objectName() == "preferencesDialog"


def check_quit(qtbot, w, key):
    _stroke(w, 200, 20)
    press(qtbot, w, key)
    assert not w.isVisible() and not w.session.dirty          # saved on the way out


def check_class(i):
    def check(qtbot, w, key):
        w.classes.apply_preset("fdi")
        press(qtbot, w, key)                       # a lone digit: after the wait for a second one, the i-th class
        qtbot.waitUntil(lambda: w.tools.value == w.classes.classes[i - 1].value, timeout=10000)
        assert w.classes.active_value() == w.classes.classes[i - 1].value
        if 1 <= i <= 4:                            # a quadrant digit and a second digit: that tooth
            press(qtbot, w, key)
            press(qtbot, w, "6")
            assert w.tools.value == i * 10 + 6 == w.classes.active_value()
            assert w.classes.chart.buttons[i * 10 + 6].isChecked()
    return check


def check_class_step(delta):
    def check(qtbot, w, key):
        w.classes.apply_preset("fdi")
        w.classes.select_value(36)
        press(qtbot, w, key)
        assert w.tools.value == (37 if delta > 0 else 35)
    return check


CHECKS = {name: check_tool(name) for name in ("brush", "eraser", "threshold", "fill", "polygon", "accept_lasso",
                                               "ruler", "box")}
CHECKS.update({
    "size_down": check_size(0.8), "size_up": check_size(1.25), "close_polygon": check_close_polygon,
    "cancel_polygon": check_cancel_polygon, "accept_all": check_accept_all, "remove_islands": check_islands,
    "undo": check_undo, "redo": check_redo, "save": check_save, "next": check_step(1),
    "previous": check_step(-1), "first_unlabeled": check_first_unlabeled, "fit": check_fit,
    "actual_size": check_actual_size, "toggle_mask": check_toggle("mask"),
    "toggle_prediction": check_toggle("prediction"), "toggle_errors": check_toggle("errors"),
    "cycle_layers": check_cycle, "contour": check_contour, "open_folder": check_open, "help": check_help,
    "preferences": check_preferences, "quit": check_quit,
})
CHECKS.update({f"class_{i}": check_class(i) for i in range(1, 11)})
CHECKS.update({"next_class": check_class_step(1), "previous_class": check_class_step(-1)})
CASES = [(spec.name, key) for spec in specs("editor") for key in spec.keys]


def test_every_table_row_has_a_check():
    assert set(CHECKS) == {spec.name for spec in specs("editor")}  # "model" rows: tests/app/test_hitl_panels.py
    keys = [k for spec in SHORTCUTS for k in spec.keys]
    assert len(keys) == len(set(keys)), "a key is bound twice"


@pytest.mark.parametrize(("name", "key"), CASES, ids=[f"{n}-{k}" for n, k in CASES])
def test_shortcut_does_what_it_says(qtbot, ready, monkeypatch, name, key):
    ready._test_monkeypatch = monkeypatch
    CHECKS[name](qtbot, ready, key)
