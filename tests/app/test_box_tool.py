"""Box tool (LiteMedSAM, ONNX in a worker) on a real thyroid frame without a mask: drag a box, get the
lobe in the active class as one undo record; a click refines it in place; missing weights turn only the
box tool off with a clear message."""

from __future__ import annotations

import json

import cv2
import numpy as np

from core.data.io import read_mask
from tests.litemedsam import onnx_dir


def _lobe_box(shared_data, name):
    truth = read_mask(shared_data / "tg3k_thyroid" / "masks" / name) > 0
    k, lab, stats, _ = cv2.connectedComponentsWithStats(truth.astype(np.uint8))
    lobe = lab == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    ys, xs = np.nonzero(lobe)
    return lobe, (xs.min() - 5, ys.min() - 5, xs.max() + 5, ys.max() + 5)


def _dice(a, b):
    return 2 * (a & b).sum() / (a.sum() + b.sum())


def test_box_tool_segments_refines_and_undoes(window, thyroid_copy, shared_data, qtbot, monkeypatch):
    monkeypatch.setenv("TOOTHSEG_PROMPT_MODEL_DIR", str(onnx_dir()))
    w = window
    assert w.open_folder(thyroid_copy)
    pos = next(i for i, s in enumerate(w.session.index) if not s.has_mask)
    assert w.select(pos)
    name = next(p.name for p in (thyroid_copy / "unlabeled").iterdir())
    lobe, (x0, y0, x1, y1) = _lobe_box(shared_data, name)
    w.actions["box"].trigger()
    assert w.tools.tool == "box"
    ed = w.session.editor
    assert not ed.labels.any()
    w.tools.press(x0, y0)
    w.tools.move(x1, y1)
    with qtbot.waitSignal(w.tools.box_prompt.applied, timeout=120_000) as got:
        w.tools.release(x1, y1)
    result = got.args[0]
    painted = ed.labels == w.tools.value
    assert _dice(painted, lobe) > 0.65          # the lobe, not the box (0.70 on this hard frame, as in core)
    assert painted.sum() < 0.9 * (x1 - x0) * (y1 - y0)
    assert ed.history.undo_steps == 1 and w.session.dirty
    w.canvas.vb.autoRange()
    w.grab().save("/tmp/box_tool_thyroid.png")

    # a negative click outside the lobe but inside the box refines the same record (embedding cached)
    outside = np.argwhere(~lobe[y0:y1, x0:x1] & ~painted[y0:y1, x0:x1])
    cy, cx = outside[len(outside) // 2] + (y0, x0)
    with qtbot.waitSignal(w.tools.box_prompt.applied, timeout=60_000) as got2:
        w.tools.click(float(cx), float(cy), shift=True)
    assert got2.args[0].encode_s == 0.0 and got2.args[0].points == [[float(cx), float(cy), 0]]
    assert ed.history.undo_steps == 1                                 # refinement replaced, not stacked
    assert not (ed.labels[cy, cx] == w.tools.value)
    assert _dice(ed.labels == w.tools.value, lobe) > 0.6
    w.tools.undo()
    assert not ed.labels.any()
    assert result.iou > 0


def test_box_tool_without_weights_says_so_and_only_it_is_off(window, thyroid_copy, tmp_path, qtbot, monkeypatch):
    from core.prompt import store

    bad = tmp_path / "bad-litemedsam"
    bad.mkdir()
    manifest = {"format": store.FORMAT, "encoder_sha256": "0", "decoder_sha256": "0"}
    (bad / store.MANIFEST_FILE).write_text(json.dumps(manifest))
    (bad / store.ENCODER_FILE).write_bytes(b"corrupt")
    (bad / store.DECODER_FILE).write_bytes(b"corrupt")
    monkeypatch.setenv("TOOTHSEG_PROMPT_MODEL_DIR", str(bad))
    monkeypatch.setattr(store, "cache_dir", lambda: tmp_path / "empty-cache")
    monkeypatch.setitem(__import__("sys").modules, "torch", None)    # like the slim build: nothing to convert with
    w = window
    assert w.open_folder(thyroid_copy)
    w.actions["box"].trigger()
    before = w.session.editor.labels.copy()
    shown = []
    monkeypatch.setattr("app.box_prompt.show_error", lambda *a: shown.append(a[2]))
    monkeypatch.setattr("app.workers.show_error", lambda *a, **k: shown.append(a[2]))
    w.tools.press(40, 40)
    w.tools.release(120, 120)
    qtbot.waitUntil(lambda: w.tools.box_prompt.job is None and bool(shown), timeout=30_000)
    assert "SHA-256" in shown[0] and "box tool off" in shown[0]
    assert w.tools.box_prompt.disabled
    assert np.array_equal(w.session.editor.labels, before)
    w.actions["brush"].trigger()                                     # the other tools still work
    w.tools.click(60, 60)
    assert (w.session.editor.labels != before).any()
