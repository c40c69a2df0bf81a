"""File menu (recent folders, exports in a worker) and Preferences (stored, applied at once and at
the next start, bad stored values fall back to defaults)."""

from __future__ import annotations

import json

import numpy as np
from PySide6 import QtWidgets

from app import preferences
from app.preferences_dialog import DEFAULTS, PreferencesDialog, current


def test_file_menu_recent_and_coco_export(window, thyroid_copy, qtbot, tmp_path):
    w = window
    titles = [a.text() for a in w.menuBar().actions()]
    assert titles[0] == "&File" and "&Model" in titles
    texts = [a.text() for a in w.file_menu.menu.actions() if a.text()]
    assert {"Open folder...", "Open &recent", "Import STS-2D-Tooth...", "&Export labels", "Preferences...",
            "Quit"} <= set(texts)
    assert w.open_folder(thyroid_copy)
    w.file_menu.fill_recent()
    assert [a.text() for a in w.file_menu.recent.actions()] == [str(thyroid_copy.resolve())]
    out = tmp_path / "coco.json"
    w.file_menu.export_coco(out)
    qtbot.waitUntil(out.exists, timeout=15000)
    data = json.loads(out.read_text())
    assert len(data["images"]) == 3 and len(data["annotations"]) >= 3       # three labelled thyroid frames


def test_preferences_apply_and_persist(window, thyroid_copy, qtbot, monkeypatch):
    w = window
    assert w.open_folder(thyroid_copy)
    dialog = PreferencesDialog(current(), w)
    dialog.autosave.setValue(10)
    dialog.paint_mode.setCurrentIndex(dialog.paint_mode.findData("others"))
    dialog.colors["fp_color"].setText("#00FF00")
    monkeypatch.setattr(PreferencesDialog, "exec", lambda self: QtWidgets.QDialog.DialogCode.Accepted)
    wanted = dialog.values()                             # what the user set, then OK
    monkeypatch.setattr(PreferencesDialog, "values", lambda self: wanted)
    w.file_menu.preferences.trigger()
    assert w.autosave.timer.interval() == 10_000
    assert w.tools.paint_mode == "others" and w.layers.paint_mode.currentData() == "others"
    labels = w.session.editor.labels
    pred = np.zeros_like(labels)
    pred[:20, :20] = 1                                   # a false positive in the corner
    w.canvas.set_prediction(pred)
    w.canvas.refresh_errors()
    rgba = w.canvas.layers["errors"].buffer
    assert tuple(rgba[5, 5, :3]) == (0, 255, 0)
    stored = preferences.get("editor")
    assert stored["autosave_s"] == 10 and stored["paint_mode"] == "others"
    from app.main_window import MainWindow  # the next start follows the stored preferences

    again = MainWindow()
    qtbot.addWidget(again)
    assert again.autosave.timer.interval() == 10_000 and again.tools.paint_mode == "others"
    again.autosave.timer.stop()


def test_bad_stored_preferences_fall_back():
    preferences.put("editor", {"autosave_s": "soon", "device": "tpu", "paint_mode": 3, "fp_color": "nope",
                               "budget_min": -5})
    prefs = current()
    assert prefs["autosave_s"] == DEFAULTS["autosave_s"] and prefs["device"] == "auto"
    assert prefs["paint_mode"] == "all" and prefs["fp_color"] == DEFAULTS["fp_color"] and prefs["budget_min"] == 0
