"""Instance list on real ufba425 FDI panoramics: one row per tooth, click highlights and centres,
rename 36 -> 37 is one undoable edit that reaches the saved mask, colour by instance, and scores of
prediction instances."""

from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest
from PySide6 import QtCore, QtGui

from core.annotation.instance_list import palette
from core.infer.predictor import Prediction
from tests.app.conftest import copy_subset


@pytest.fixture
def teeth(window, qtbot, shared_data, tmp_path):
    root = copy_subset(shared_data / "ufba425_teeth", tmp_path / "teeth", n=2)
    assert window.open_folder(root)
    ctl = window.instance_list
    qtbot.waitUntil(lambda: len(ctl.items) > 0, timeout=5000)
    return window, ctl, root


def n_teeth(shared_data, stem: str) -> int:
    with open(shared_data / "ufba425_teeth" / "index.csv") as f:
        return int(next(r for r in csv.DictReader(f) if r["stem"] == stem)["n_teeth"])


def row_of(ctl, value: int) -> int:
    return next(r for r, it in enumerate(ctl.items) if it.value == value)


def test_list_click_rename_undo_and_save(teeth, qtbot, shared_data):
    w, ctl, root = teeth
    stem = w.session.sample.id
    labels = w.session.editor.labels
    assert len(ctl.items) == n_teeth(shared_data, stem) == ctl.panel.table.rowCount()
    assert sorted(it.value for it in ctl.items) == sorted(int(v) for v in np.unique(labels) if v)
    assert ctl.panel.table.item(row_of(ctl, 36), 0).text().startswith("36")

    # click the row of tooth 36: outline on the canvas around it, view centred on it
    row = row_of(ctl, 36)
    item = ctl.items[row]
    rect = ctl.panel.table.visualRect(ctl.panel.table.model().index(row, 0))
    qtbot.mouseClick(ctl.panel.table.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=rect.center())
    assert ctl.panel.selected_row() == row
    box = w.canvas.highlight_item.path().boundingRect()
    x, y, bw, bh = item.bbox
    assert abs(box.left() - x) <= 1 and abs(box.top() - y) <= 1
    assert abs(box.width() - (bw - 1)) <= 1 and abs(box.height() - (bh - 1)) <= 1
    center = w.canvas.vb.viewRect().center()
    assert abs(center.x() - (x + bw / 2)) < 2 and abs(center.y() - (y + bh / 2)) < 2

    # rename 36 -> 37: exactly that instance's pixels change, in one undo step
    before = labels.copy()
    region = np.zeros(labels.shape, bool)
    region[y:y + bh, x:x + bw] = item.crop
    changed_px = region & (before == 36)
    ctl.panel.select_new_class(37)
    steps = w.session.editor.history.undo_steps
    qtbot.mouseClick(ctl.panel.rename_button, QtCore.Qt.MouseButton.LeftButton)
    after = w.session.editor.labels
    assert (after[changed_px] == 37).all() and changed_px.sum() == item.area
    assert np.array_equal(after[~changed_px], before[~changed_px])
    assert w.session.editor.history.undo_steps == steps + 1
    qtbot.waitUntil(lambda: 36 not in {it.value for it in ctl.items}, timeout=10000)   # the list refreshed
    qtbot.keyClick(w.canvas, QtCore.Qt.Key.Key_Z, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(w.session.editor.labels, before)
    qtbot.waitUntil(lambda: 36 in {it.value for it in ctl.items}, timeout=10000)
    w.actions["redo"].trigger()
    assert (w.session.editor.labels[changed_px] == 37).all()

    # switching images saves the renamed mask to disk
    saved = []
    report = w._report_save
    w._report_save = lambda result, quiet=False: (saved.append(result.path), report(result, quiet))
    assert w.select(1)
    assert saved, "switching images did not save the edited mask"
    on_disk = cv2.imread(str(saved[0]), cv2.IMREAD_UNCHANGED)
    assert (on_disk[changed_px] == 37).all() and not (on_disk == 36).any()
    assert np.array_equal(on_disk[~changed_px], before[~changed_px])
    qtbot.waitUntil(lambda: len(ctl.items) == n_teeth(shared_data, w.session.sample.id), timeout=10000)
    assert w.canvas.highlight_item.path().isEmpty()       # no highlight left from the other image


def test_colour_by_instance(teeth, qtbot):
    w, ctl, _ = teeth
    class_rgba = w.canvas.layers["mask"].buffer.copy()
    ctl.panel.by_instance.setChecked(True)
    rgba = w.canvas.layers["mask"].buffer
    colours = {tuple(c) for c in rgba[rgba[..., 3] > 0][:, :3]}
    assert colours == {tuple(c) for c in palette(len(ctl.items))}   # one colour per instance
    for it, colour in zip(ctl.items[:3], palette(len(ctl.items))[:3], strict=True):
        y0, y1, x0, x1 = it.box
        assert (rgba[y0:y1, x0:x1][it.crop][:, :3] == colour).all()
    # an edit keeps instance colours after the list refreshed (a new tooth gets its own colour)
    w.set_tool("brush")
    w.tools.value = 11
    w.tools.set_radius(6)
    w.tools.click(5.0, 5.0)
    qtbot.waitUntil(lambda: len(ctl.items) == len(colours) + 1, timeout=10000)
    rgba = w.canvas.layers["mask"].buffer
    new = next(r for r, it in enumerate(ctl.items) if it.value == 11 and it.box[0] < 12 and it.box[2] < 12)
    assert rgba[5, 5, 3] == 255 and tuple(rgba[5, 5, :3]) == tuple(palette(len(ctl.items))[new])
    w.layers.contour.setChecked(True)                     # outlines redraw the mask: instance colours stay
    qtbot.waitUntil(lambda: w.canvas.instance_rgba is not None, timeout=10000)
    assert w.canvas.layers["mask"].buffer is w.canvas.instance_rgba
    w.layers.contour.setChecked(False)
    qtbot.waitUntil(lambda: w.canvas.instance_rgba is not None, timeout=10000)
    ctl.panel.by_instance.setChecked(False)
    restored = w.canvas.layers["mask"].buffer
    away = np.ones(restored.shape[:2], bool)
    away[:12, :12] = False
    assert np.array_equal(restored[away], class_rgba[away])


def test_prediction_instances_have_scores(teeth, qtbot):
    w, ctl, _ = teeth
    labels = w.session.editor.labels
    pred = labels.copy()
    pred[pred == 21] = 0                                   # the "model" missed one tooth
    values = [0] + sorted(int(v) for v in np.unique(labels) if v)
    logits = np.stack([np.where(labels == v, 4.0, 0.0).astype(np.float32) for v in values])
    w.session.set_prediction(w.session.sample.id, pred)
    w.canvas.set_prediction(pred)
    ctl.set_prediction_details(w.session.sample.id, Prediction(logits, pred, pred), values)
    ctl.panel.source.setCurrentIndex(1)
    qtbot.waitUntil(lambda: ctl.source == "prediction" and len(ctl.items) == len(values) - 2, timeout=10000)
    expected = float(np.exp(4.0) / (np.exp(4.0) + len(values) - 1))
    for it in ctl.items:
        assert it.score == pytest.approx(expected, abs=1e-4)
    assert ctl.panel.table.item(0, 1).text() == f"{expected:.3f}"
    assert not ctl.panel.rename_button.isEnabled()           # prediction instances are not edited here
    icon = ctl.panel.table.item(0, 0).icon().pixmap(8, 8).toImage()
    colour = w.session.project.classes[[c.value for c in w.session.project.classes].index(ctl.items[0].value)].color
    assert icon.pixelColor(4, 4) == QtGui.QColor(colour)     # the row's swatch is its class colour
    assert ctl.panel.table.item(0, 2).text() == ""           # confident, one region per number: no flag


def test_low_score_and_duplicate_teeth_are_flagged(teeth, qtbot):
    w, ctl, _ = teeth
    labels = w.session.editor.labels
    pred = labels.copy()
    pred[:30, :30] = 11                                    # a second "tooth 11"
    values = [0] + sorted(int(v) for v in np.unique(labels) if v)
    logits = np.stack([np.where(pred == v, 4.0, 0.0).astype(np.float32) for v in values])
    logits[values.index(36)][pred == 36] = 0.2             # unsure of tooth 36
    w.session.set_prediction(w.session.sample.id, pred)
    w.canvas.set_prediction(pred)
    ctl.set_prediction_details(w.session.sample.id, Prediction(logits, pred, pred), values)
    ctl.panel.source.setCurrentIndex(1)
    qtbot.waitUntil(lambda: ctl.source == "prediction" and sum(it.value == 11 for it in ctl.items) == 2, timeout=10000)
    table = ctl.panel.table
    flags = {ctl.items[r].value: table.item(r, 2).text() for r in range(table.rowCount()) if table.item(r, 2).text()}
    assert set(flags) == {11, 36}
    assert "used 2x" in flags[11] and flags[36].startswith("low score")
    row36 = row_of(ctl, 36)
    assert table.item(row36, 0).foreground().color() == QtGui.QColor("#D55E00")
    assert "3 flagged for review" in ctl.panel.summary.text()
    ctl.panel.select(row36)                                 # the rename suggestion walks along the arch
    assert ctl.panel.new_class.currentData() == 37
