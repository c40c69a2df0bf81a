"""Caries as its own layer: a tiny binary model trained by the engine on real mlua crops, exported
with a sliding-window policy, shown as the overlay of full 2943x1435 panoramics above the mask."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtCore, QtWidgets

from app.canvas.view import LAYERS, OVERLAY
from core.export.onnx import export_onnx
from core.infer.predictor import load_predictor
from core.train.loop import run_training
from tests.app.conftest import copy_subset
from tests.app.test_hitl_panels import register_copy
from tests.core.test_train_support import make_subset, tiny


@pytest.fixture(scope="module")
def caries_model(shared_data, tmp_path_factory):
    """(sidecar, onnx): 6 steps on 128-px crops of 4 real panoramics, tiled 256-px windows at inference."""
    base = tmp_path_factory.mktemp("caries")
    data = make_subset(shared_data / "mlua_panoramic_caries", base / "data", 4, start=10)
    result = run_training(tiny("finetune", size=512, crop=128, max_steps=6, epochs=1, batch_size=2), data,
                          base / "run")
    onnx = base / "run" / "model.onnx"
    report = export_onnx(result["best_checkpoint"], onnx, images=str(data / "images"), policy="sliding",
                         size=[256, 256], max_images=1)
    assert report["input_policy"]["mode"] == "sliding"
    return base / "run" / "best.json", onnx


def errors(window) -> list[str]:
    return [b.text() for b in window.findChildren(QtWidgets.QMessageBox, "errorBox") if b.isVisible()]


def test_caries_model_as_overlay_follows_images(window, qtbot, shared_data, tmp_path, caries_model):
    sidecar, onnx = caries_model
    root = copy_subset(shared_data / "mlua_panoramic_caries", tmp_path / "pano", n=2)
    register_copy(root, "caries-tiny", sidecar, onnx, active=False)
    w = window
    assert w.open_folder(root)
    w.hitl.refresh_models()
    meta = load_predictor(onnx).meta
    value = next(int(c.get("value", c["id"])) for c in meta["classes"] if int(c.get("value", c["id"])) > 0)
    color = next(c["color"] for c in meta["classes"] if int(c.get("value", c["id"])) == value)

    w.hitl.models.select("caries-tiny")
    qtbot.mouseClick(w.hitl.models.buttons["overlay"], QtCore.Qt.MouseButton.LeftButton)
    ov = w.instance_list.overlay
    first = w.session.sample.id
    qtbot.waitUntil(lambda: ov.sample_id == first or bool(errors(w)), timeout=60_000)
    assert not errors(w)
    h, w_ = w.session.editor.shape
    assert (h, w_) == (1435, 2943)
    assert ov.labels.shape == (1435, 2943)
    found = set(np.unique(ov.labels).tolist())
    assert found <= {0, value} and value in found
    rgba = w.canvas.layers[OVERLAY].buffer
    assert rgba.shape == (1435, 2943, 4)
    hit = ov.labels == value
    assert (rgba[hit][:, :3] == color[:3]).all() and (rgba[hit][:, 3] == 255).all()
    assert (rgba[~hit][:, 3] == 0).all()
    # drawn above the teeth: higher z than the mask, prediction and error layers, visible by default
    z = {name: w.canvas.layers[name].zValue() for name in (*LAYERS, OVERLAY)}
    assert z[OVERLAY] > max(z[name] for name in LAYERS)
    assert w.canvas.layer_visible(OVERLAY) and w.layers.visible[OVERLAY].isChecked()
    assert w.layers.visible[OVERLAY].text() == "Overlay: caries-tiny"
    w.layers.visible[OVERLAY].setChecked(False)
    assert not w.canvas.layer_visible(OVERLAY)
    w.layers.opacity[OVERLAY].setValue(40)
    assert w.canvas.layers[OVERLAY].opacity() == pytest.approx(0.4)

    # the overlay follows image switches (never the previous image's map in between), and comes back
    # from the cache when returning to the first image
    assert w.select(1)
    second = w.session.sample.id
    assert ov.sample_id != first
    qtbot.waitUntil(lambda: ov.sample_id == second or bool(errors(w)), timeout=60_000)
    assert not errors(w) and ov.labels.shape == (1435, 2943)
    assert w.select(0)
    assert ov.sample_id == first                          # cached: painted at once
    qtbot.mouseClick(w.hitl.models.buttons["overlay_clear"], QtCore.Qt.MouseButton.LeftButton)
    assert w.canvas.layers[OVERLAY].buffer is None and ov.model is None
    QtCore.QThreadPool.globalInstance().waitForDone(30_000)   # the instance list of a panoramic runs in a worker


def test_overlay_without_onnx_says_so(window, qtbot, shared_data, tmp_path, caries_model):
    sidecar, onnx = caries_model
    root = copy_subset(shared_data / "mlua_panoramic_caries", tmp_path / "pano", n=1)
    register_copy(root, "no-onnx", sidecar, onnx, active=False)
    (root / ".toothseg" / "models" / "no-onnx" / "model.onnx").unlink()
    assert window.open_folder(root)
    window.hitl.refresh_models()
    window.hitl.models.select("no-onnx")
    qtbot.mouseClick(window.hitl.models.buttons["overlay"], QtCore.Qt.MouseButton.LeftButton)
    assert any("no ONNX file" in e for e in errors(window))
    assert window.canvas.layers[OVERLAY].buffer is None


def test_predicted_instances_carry_the_models_scores(window, qtbot, shared_data, tmp_path, caries_model):
    """Predict current (ONNX, sliding window) on a full panoramic: the prediction's instances are listed
    in a worker with their mean probability, every one above the model's threshold."""
    sidecar, onnx = caries_model
    root = copy_subset(shared_data / "mlua_panoramic_caries", tmp_path / "pano", n=1)
    register_copy(root, "caries-tiny", sidecar, onnx, active=True)
    w = window
    assert w.open_folder(root)
    ctl = w.instance_list
    ctl.panel.source.setCurrentIndex(1)
    w.hitl.predict("current")
    qtbot.waitUntil(lambda: ctl.details is not None or bool(errors(w)), timeout=60_000)
    assert not errors(w)
    qtbot.waitUntil(lambda: bool(ctl.items) and ctl.items[0].score is not None, timeout=30_000)
    threshold = load_predictor(onnx).meta["threshold"]
    assert all(threshold < it.score <= 1.0 for it in ctl.items)
    assert sum(it.area for it in ctl.items) <= int((w.canvas.prediction > 0).sum())
    assert ctl.panel.table.rowCount() == len(ctl.items) and ctl.panel.table.item(0, 2).text() != "-"
    QtCore.QThreadPool.globalInstance().waitForDone(30_000)
