"""Dataset browser, classes panel, layers (errors, opacity, window/level), status bar, start page, workers."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from PySide6 import QtCore, QtWidgets

from app.main import main
from app.workers import run_job
from core.annotation.render import FN_COLOR, FP_COLOR
from core.data.io import read_image
from core.errors import CancelledError
from tests.app.conftest import copy_subset


def test_dataset_browser_filters_searches_and_makes_thumbnails(qtbot, window, thyroid_copy):
    assert window.open_folder(thyroid_copy)
    panel = window.dataset
    assert panel.model.rowCount() == 4
    qtbot.waitUntil(lambda: len(panel.model.thumbs.pixmaps) == 4, timeout=5000)
    assert max(p.width() for p in panel.model.thumbs.pixmaps.values()) == 56
    panel.status.setCurrentText("unlabeled")
    assert panel.model.rowCount() == 1
    panel.status.setCurrentText("all")
    panel.search.setText("0007")
    assert panel.model.rowCount() == 1
    rect = panel.list.visualRect(panel.model.index(0))
    qtbot.mouseClick(panel.list.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=rect.center())
    window.loader.wait()                                          # a click loads the image in a worker
    assert window.session.sample.id == "0007"
    assert "4 images" in panel.summary.text()


def test_classes_panel_edits_are_saved_and_hidden_classes_vanish(window, thyroid_copy):
    assert window.open_folder(thyroid_copy)
    panel = window.classes
    added = panel.add_class("nodule")
    panel.rename(0, "thyroid")
    panel.recolor(1, "#112233")
    panel.move(1, -1)
    saved = json.loads(window.session.project.path.read_text())
    assert [(c["value"], c["name"], c["color"]) for c in saved["classes"]] == [
        (added.value, "nodule", "#112233"), (1, "thyroid", "#E69F00")]
    assert window.tools.value == added.value                      # the moved row stays active
    panel.list.item(1).setCheckState(QtCore.Qt.CheckState.Unchecked)
    assert window.canvas.lut[1, 3] == 0
    assert (window.canvas.layers["mask"].buffer[..., 3] > 0).sum() == 0
    panel.apply_preset("fdi")
    assert len(panel.classes) == 32 and panel.list.count() == 32


def test_error_view_opacity_contour_and_status_bar(window, thyroid_copy):
    assert window.open_folder(thyroid_copy)
    mask = window.session.editor.labels
    window.canvas.set_prediction(np.roll(mask, 10, axis=1).astype(np.float32))   # probabilities work too
    window.layers.visible["errors"].setChecked(True)
    errors = window.canvas.layers["errors"].buffer
    fp = (errors[..., :3] == FP_COLOR).all(-1)
    fn = (errors[..., :3] == FN_COLOR).all(-1)
    shifted = np.roll(mask, 10, axis=1)
    assert fp.sum() == ((shifted > 0) & (mask == 0)).sum() and fn.sum() == ((mask > 0) & (shifted == 0)).sum()
    window.layers.opacity["mask"].setValue(20)
    assert window.canvas.layers["mask"].opacity() == pytest.approx(0.2)
    ys, xs = np.nonzero(mask)
    window.canvas.hover(float(xs[0]) + 0.5, float(ys[0]) + 0.5)
    assert window.status.labels["xy"].text() == f"x {xs[0]}  y {ys[0]}"
    assert window.status.labels["cls"].text() == "foreground"
    assert window.status.labels["intensity"].text() == f"I {window.session.editor.image[ys[0], xs[0]]}"


def test_16bit_images_get_a_window_and_the_threshold_brush_uses_raw_values(window, shared_data, tmp_path):
    root = copy_subset(shared_data / "isbi2012_em_membrane", tmp_path / "em16", n=1)
    img_path = next((root / "images").iterdir())
    raw = read_image(img_path).astype(np.uint16) * 200 + 1000
    cv2.imwrite(str(img_path), raw)
    assert window.open_folder(root)
    lo, hi = window.canvas.window
    assert 1000 <= lo < hi <= 1000 + 255 * 200
    shown = window.canvas.layers["image"].buffer
    assert shown.dtype == np.uint8 and shown.min() == 0 and shown.max() == 255
    window.layers.low.setValue(1000)
    window.layers.high.setValue(2000)
    assert window.canvas.window == (1000.0, 2000.0)
    window.session.editor.labels[:] = 0
    window.set_tool("threshold")
    window.tools.tolerance = 0.0
    window.tools.set_radius(30)
    window.tools.click(256, 256)
    painted = window.session.editor.labels > 0
    assert painted.any() and painted.sum() < np.pi * 30 * 30


def test_start_page_sample_project_and_recent(qtbot, window):
    assert window.stack.currentWidget() is window.start and not window.dataset.isVisible()
    window.start.buttons["sample"].click()
    window.loader.wait()                                          # the folder opens in a worker
    assert window.session is not None and window.session.root.name == "synthetic-phantom"
    assert window.dataset.model.rowCount() == 12 and len(window.classes.classes) == 32
    window.start.refresh()
    assert window.start.recent.item(0).data(QtCore.Qt.ItemDataRole.UserRole) == str(window.session.root)


def test_import_failure_reaches_the_user(qtbot, window, tmp_path):
    (tmp_path / "parts").mkdir()
    job = window.run_import(tmp_path / "dest", tmp_path / "parts")
    qtbot.waitUntil(lambda: bool(window.findChildren(QtWidgets.QMessageBox, "errorBox")), timeout=20000)
    box = window.findChildren(QtWidgets.QMessageBox, "errorBox")[0]
    assert box.windowTitle() == "Import STS-2D-Tooth" and str(tmp_path / "parts") in box.text()
    assert job.cancel_token is not None and window.session is None


def test_worker_reports_progress_bugs_and_cancel(qtbot):
    parent = QtWidgets.QWidget()
    qtbot.addWidget(parent)
    seen = []

    def counting(n, progress=None, cancel=None):
        for i in range(n):
            progress(i + 1, n, f"step {i}")
        return n * 2

    job = run_job(parent, "Count", counting, 3, on_done=seen.append)
    job.signals.progress.connect(lambda d, t, m: seen.append((d, t)))
    qtbot.waitUntil(lambda: 6 in seen, timeout=5000)

    def buggy():
        raise KeyError("boom")

    run_job(parent, "Buggy", buggy, progress_dialog=False)
    qtbot.waitUntil(lambda: bool(parent.findChildren(QtWidgets.QMessageBox, "errorBox")), timeout=5000)
    box = parent.findChildren(QtWidgets.QMessageBox, "errorBox")[0]
    assert "Unexpected error: KeyError" in box.text() and "Traceback" in box.detailedText()

    def waits(cancel=None):
        cancel.wait(10)
        cancel.raise_if_cancelled("waiting")

    cancelled = []
    job = run_job(parent, "Wait", waits, progress_dialog=False)
    job.signals.cancelled.connect(cancelled.append)
    job.cancel_token.cancel()
    qtbot.waitUntil(lambda: bool(cancelled), timeout=5000)
    assert cancelled == ["waiting cancelled"] and CancelledError


def test_screenshot_mode_renders_the_window_and_writes_nothing(qapp, shared_data, tmp_path):
    out = tmp_path / "shot.png"
    root = shared_data / "ufba425_teeth"
    import gc

    try:
        assert main(["--open", str(root), "--screenshot", str(out), "--select", "2"]) == 0
        assert gc.get_freeze_count() > 10_000      # the start-up heap is out of the collector's reach
    finally:
        gc.unfreeze()                               # the rest of the test run collects as usual
    img = cv2.imread(str(out))
    assert img.shape[:2] == (900, 1400) and img.std() > 20
    assert not (root / ".toothseg").exists()
    for w in qapp.topLevelWidgets():
        w.close()


def test_import_from_downloaded_parts_opens_the_imported_folder(qtbot, window, shared_data, tmp_path):
    import hashlib
    import io
    import socket
    import zipfile

    ufba = shared_data / "ufba425_teeth"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i, stem in enumerate(sorted(p.stem for p in (ufba / "images").glob("*.jpg"))[:3]):
            label = "Labeled" if i < 2 else "Unlabeled"
            zf.writestr(f"SD-Tooth/STS-2D-Tooth/A-PXI/{label}/Image/A_{stem}.jpg",
                        (ufba / "images" / f"{stem}.jpg").read_bytes())
            if i < 2:
                zf.writestr(f"SD-Tooth/STS-2D-Tooth/A-PXI/{label}/Mask/A_{stem}.png",
                            (ufba / "masks" / f"{stem}.png").read_bytes())
    data, parts = buf.getvalue(), tmp_path / "parts"
    parts.mkdir()
    half = len(data) // 2
    sums = []
    for i, blob in enumerate((data[:half], data[half:])):
        (parts / f"SD-Tooth.zip.{i + 1:03d}").write_bytes(blob)
        sums.append(f"{hashlib.md5(blob).hexdigest()}  SD-Tooth.zip.{i + 1:03d}")
    (parts / "md5sums.txt").write_text("\n".join(sums) + "\n")
    with socket.socket() as sock:                                   # no network: a dead local address
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}/record.json"
    window.run_import(tmp_path / "sts", parts, record_url=dead)
    qtbot.waitUntil(lambda: window.session is not None, timeout=30000)
    assert window.session.index.layout == "sts2d" and len(window.session.index) == 3
    assert not window.findChildren(QtWidgets.QMessageBox, "errorBox")


def test_failed_autosave_is_reported_and_pauses_the_timer(qtbot, window, thyroid_copy, monkeypatch):
    from core.errors import ToothSegError

    assert window.open_folder(thyroid_copy)
    window.tools.click(40, 40)

    def full_disk(*args, **kwargs):
        raise ToothSegError("Not enough disk space to save the mask; nothing was changed.")

    monkeypatch.setattr(window.session.store, "save", full_disk)
    assert window.autosave.timer.isActive()
    assert window.autosave.tick()
    boxes = window.findChildren(QtWidgets.QMessageBox, "errorBox")
    assert boxes and "disk space" in boxes[0].text() and not window.autosave.timer.isActive()
    assert window.session.dirty and window.session.pending_recovery()   # the journal still holds the stroke


def test_uncaught_slot_errors_become_a_dialog(qtbot, window):
    import sys

    from app.main import install_excepthook

    old = sys.excepthook
    install_excepthook(window)
    try:
        try:
            raise RuntimeError("slot broke")
        except RuntimeError as exc:
            sys.excepthook(type(exc), exc, exc.__traceback__)
    finally:
        sys.excepthook = old
    box = window.findChildren(QtWidgets.QMessageBox, "errorBox")[0]
    assert "RuntimeError: slot broke" in box.text() and "Traceback" in box.detailedText()


def test_finished_jobs_let_their_arguments_go(qtbot, window):
    """Qt's pool keeps every started runnable; a finished job must not keep its session or images alive."""
    import gc
    import weakref

    class Payload:
        pass

    payload, done = Payload(), []
    ref = weakref.ref(payload)
    run_job(window, "Keep nothing", lambda p: 1, payload, on_done=done.append, progress_dialog=False)
    qtbot.waitUntil(lambda: done == [1], timeout=5000)
    del payload
    gc.collect()
    assert ref() is None


def test_paint_first_jobs_start_after_the_window_painted_and_never_once_cancelled(qtbot, window):
    """A ``paint_first`` job begins PAINT_FIRST_MS after the click (the window answers first); cancelled
    in between, its work never begins and the cancellation is reported."""
    import time

    from app.workers import PAINT_FIRST_MS

    started, done = [], []
    t0 = time.monotonic()
    run_job(window, "Later", lambda: started.append(time.monotonic() - t0) or 1, on_done=done.append,
            progress_dialog=False, paint_first=True)
    assert not started                                    # nothing ran before the event loop turned
    qtbot.waitUntil(lambda: done == [1], timeout=10000)
    assert started[0] >= PAINT_FIRST_MS / 1000 * 0.9
    ran, stopped = [], []
    job = run_job(window, "Never", lambda: ran.append(1), progress_dialog=False, paint_first=True)
    job.signals.cancelled.connect(stopped.append)
    job.cancel_token.cancel()
    qtbot.waitUntil(lambda: bool(stopped), timeout=10000)
    assert not ran and "before it started" in stopped[0]
