"""End to end, offscreen: a copy of real thyroid frames, Train on my labels with curves, cancel and resume,
export ONNX (+ int8), predict all unlabeled, review (accept / reject / edit with their keys), evaluation,
label next, saliency and logs; the project file afterwards holds the model and the statuses."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from core.data.io import read_mask
from core.data.layouts import load_index
from core.data.project import Project
from core.logs import tail
from tests.core.test_hitl_auto_train import thyroid_copy

TINY = {"size": 64, "model": {"name": "unet", "base_channels": 4, "norm": "batch"}, "max_steps": 12,
        "max_minutes": 0.0, "epochs": 50, "batch_size": 4, "early_stop_patience": 0}


@pytest.fixture
def window(main_window):
    yield main_window
    QtCore.QThreadPool.globalInstance().waitForDone(30000)  # training/prediction workers finish first


def error_boxes(window) -> list[str]:
    return [b.text() for b in window.findChildren(QtWidgets.QMessageBox, "errorBox") if b.isVisible()]


def key(qtbot, window, text: str) -> None:
    window.activateWindow()
    window.windowHandle().requestActivate()                              # focus may have gone to a closed box
    qtbot.waitUntil(lambda: QtWidgets.QApplication.activeWindow() is window, timeout=10000)
    window.canvas.setFocus()
    combo = QtGui.QKeySequence(text)[0]
    qtbot.keyClick(window.canvas, combo.key(), combo.keyboardModifiers())
    QtWidgets.QApplication.processEvents()


def test_human_in_the_loop_session(qtbot, window, shared_data, tmp_path):
    root = thyroid_copy(shared_data / "tg3k_thyroid", tmp_path / "thyroid", labeled=16, unlabeled=8)
    ctl = window.hitl
    assert not ctl.training.isVisible()                                  # nothing to train before a folder
    assert window.open_folder(root)
    assert ctl.training.isVisible() and ctl.session is window.session
    assert "16 labels" in ctl.training.plan_label.text()
    ctl.auto_overrides = dict(TINY)

    # a failing worker becomes a readable dialog and a log entry, and the controls come back
    ctl.auto_overrides["model"] = {"name": "no_such_net"}
    ctl.training.auto_button.click()
    qtbot.waitUntil(lambda: ctl.job is None and bool(error_boxes(window)), timeout=30000)
    assert "no_such_net" in " ".join(error_boxes(window)) and "no_such_net" in tail()
    assert ctl.training.auto_button.isEnabled()
    for box in window.findChildren(QtWidgets.QMessageBox, "errorBox"):
        box.close()
    ctl.auto_overrides = dict(TINY)

    # Train on my labels from the toolbar; cancel in the second epoch, then resume
    marks: dict[str, float] = {}

    def cancel_at_step_6(step, loss, lr):
        if step == 6 and "cancel" not in marks:
            marks["cancel"] = time.monotonic()
            ctl.training.cancel_button.click()
            ctl.job.signals.cancelled.connect(lambda _m: marks.setdefault("stopped", time.monotonic()),
                                              QtCore.Qt.ConnectionType.DirectConnection)

    ctl.training.signals.step.connect(cancel_at_step_6)
    ctl.actions["train_on_labels"].trigger()
    qtbot.waitUntil(lambda: "cancel" in marks and ctl.job is None, timeout=60000)
    ctl.training.signals.step.disconnect(cancel_at_step_6)
    # the loop checks the token between steps, between validation batches and before the epoch-end writes
    print(f"cancel -> worker stopped in {marks['stopped'] - marks['cancel']:.2f} s")
    assert marks["stopped"] - marks["cancel"] < 1.0
    assert ctl.training.resume_button.isEnabled() and "cancelled" in ctl.training.eta.text()
    run_dir = Path(ctl.last["run_dir"])
    assert (run_dir / "last.safetensors").exists() and not Path(window.session.project.path).read_text().count(
        run_dir.name)
    assert ctl.training.curves.points("loss") >= 1 and ctl.training.curves.points("dice") >= 1
    ctl.training.resume_button.click()
    qtbot.waitUntil(lambda: ctl.job is None and "Validation Dice" in ctl.training.result_label.text(),
                    timeout=300000)  # active first; cross-validation over groups then runs in the background
    qtbot.waitUntil(lambda: not ctl.training_ctl.measurer.running, timeout=300000)  # (16 labels: val too small)
    assert not error_boxes(window)
    result = ctl.training.result_label.text()  # 16 labels: too few val images, so folds over groups measure
    assert "95 % CI" in result and "groups" in result and "cross-validation over groups" in result
    log = ctl.training.log_view.toPlainText()  # the first 16 frames are one clip: said, and 5 blocks instead
    assert "5 acquisition groups (sequence, one group only: 5 contiguous blocks)" in log
    assert "resuming" in ctl.training.log_view.toPlainText()
    assert ctl.training.curves.points("loss") >= 12 and ctl.training.progress.value() == 1000
    project = window.session.project
    assert project.active_model == run_dir.name and (run_dir / "model.onnx").exists()
    assert ctl.models.table.rowCount() == 1 and ctl.models.buttons["predict_unlabeled"].isEnabled()

    # export ONNX + int8 from the model library: parity and the int8 Dice drop are shown
    ctl.models.select(run_dir.name)
    ctl.models.buttons["export_int8"].click()
    qtbot.waitUntil(lambda: "parity" in ctl.models.info.text(), timeout=90000)
    assert (run_dir / "model.int8.onnx").exists() and "int8" in ctl.models.info.text()

    # predict all unlabeled with ONNX Runtime -> the review queue
    ctl.models.buttons["predict_unlabeled"].click()
    qtbot.waitUntil(lambda: ctl.review.table.rowCount() == 8, timeout=60000)
    assert "CPUExecutionProvider" in ctl.models.info.text()              # where ONNX Runtime ran
    ids = list(ctl.review.ids)
    first, second, third = ids[:3]
    assert ctl.session.sample.id == first                                # the queue shows its first image
    assert window.canvas.prediction is not None
    key(qtbot, window, "Y")                                              # accept
    qtbot.waitUntil(lambda: first not in ctl.review.ids, timeout=5000)
    assert ctl.review.current() == second and ctl.session.sample.id == second
    key(qtbot, window, "N")                                              # reject
    qtbot.waitUntil(lambda: second not in ctl.review.ids, timeout=5000)
    assert ctl.review.current() == third
    key(qtbot, window, "R")                                              # edit: the pseudo mask goes into the editor
    labels = window.session.editor.labels
    assert labels.any() or not ctl.queue.mask(third).any()
    labels[:8, :8] = 1                                                   # a correction
    window.session.dirty = True
    key(qtbot, window, "Y")
    qtbot.waitUntil(lambda: third not in ctl.review.ids, timeout=5000)
    edited = read_mask(project.drawn_mask_path(third))
    assert (edited[:8, :8] > 0).all()
    assert "5 waiting, 2 accepted, 1 rejected" in ctl.review.counts.text()

    # evaluation of the active model, click a row: prediction + error overlay
    ctl.evaluation.select_split("all")
    ctl.evaluation.run_button.click()
    qtbot.waitUntil(lambda: ctl.evaluation.table.rowCount() > 0, timeout=60000)
    assert ctl.evaluation.table.rowCount() == 18 and "Dice" in ctl.evaluation.summary.text()
    sid = ctl.evaluation.table.item(0, 0).text()
    ctl.evaluation.table.cellClicked.emit(0, 0)
    qtbot.waitUntil(lambda: sid in window.session.predictions and ctl.session.sample.id == sid, timeout=20000)
    assert window.canvas.layer_visible("errors") and window.canvas.prediction is not None

    # label next ranks by the model's uncertainty; saliency for the current image
    ctl.label_next.refresh_button.click()
    qtbot.waitUntil(lambda: ctl.label_next.list.count() > 0, timeout=30000)
    assert "uncertainty" in ctl.label_next.method.text() and ctl.label_next.list.count() == 6
    ctl.actions["saliency"].trigger()
    qtbot.waitUntil(lambda: ctl.saliency_ctl.layer.isVisible(), timeout=20000)
    assert ctl.saliency_ctl.layer.image.shape[:2] == window.session.editor.image.shape
    ctl.actions["show_logs"].trigger()
    assert "Train on my labels" in ctl.logs_dialog.findChild(QtWidgets.QPlainTextEdit).toPlainText()
    assert not error_boxes(window)

    # what persists: the model (active, with ONNX) and the review statuses
    QtCore.QThreadPool.globalInstance().waitForDone(30000)
    saved = Project.open(root)
    assert saved.active_model == run_dir.name and saved.model(run_dir.name).onnx.endswith("model.onnx")
    assert saved.status[first] == saved.status[third] == "reviewed" and saved.status[second] == "rejected"
    assert sum(v == "pseudo" for v in saved.status.values()) == 5
    index = saved.apply(load_index(root))
    assert {first, third} <= {s.id for s in index.labeled()}            # accepted pseudo-labels train next time
    assert np.array_equal(read_mask(saved.drawn_mask_path(first)) > 0, read_mask(saved.drawn_mask_path(first)) > 0)
