"""Kill-style recovery: a real process paints, is SIGKILLed between strokes, and the next start restores."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np

from app.main_window import MainWindow
from core.data.io import read_mask
from tests.app.conftest import REPO_ROOT, copy_subset

CHILD = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    from PySide6 import QtWidgets
    from app.main_window import MainWindow
    app = QtWidgets.QApplication([])
    w = MainWindow()
    w.autosave.timer.stop()                       # the crash comes before any autosave
    assert w.open_folder(sys.argv[1], select=1)
    w.set_tool("brush")
    w.tools.set_radius(5)
    for i in range(3):                            # three finished strokes
        w.tools.press(40 + 50 * i, 100)
        w.tools.move(60 + 50 * i, 110)
        w.tools.release(70 + 50 * i, 120)
    w.tools.press(200, 200)                       # a fourth stroke still in progress
    w.tools.move(220, 220)
    np.save(sys.argv[2], w.session.editor.labels)
    os.kill(os.getpid(), signal.SIGKILL)
""")


def test_killed_session_is_offered_back_and_restored(qtbot, shared_data, tmp_path):
    root = copy_subset(shared_data / "ufba425_teeth", tmp_path / "teeth", n=2)
    mask_path = root / "masks" / sorted(os.listdir(root / "masks"))[1]
    before = read_mask(mask_path)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(REPO_ROOT))
    proc = subprocess.run([sys.executable, "-c", CHILD, str(root), str(tmp_path / "state.npy")],
                          env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr
    at_kill = np.load(tmp_path / "state.npy")
    assert np.array_equal(read_mask(mask_path), before)             # nothing was saved before the kill

    questions = []
    w = MainWindow()
    qtbot.addWidget(w)
    w.ask = lambda q: questions.append(q) or True
    assert w.open_folder(root, select=1)
    assert len(questions) == 1 and "1 image" in questions[0]
    restored = read_mask(mask_path)
    assert np.array_equal(w.session.editor.labels, restored)
    finished = restored != before
    assert finished[100:121, 40:171].any()                          # the three finished strokes are back
    assert not finished[195:225, 195:225].any()                     # the stroke cut by the kill is not
    assert (at_kill != before).sum() > finished.sum()
    w.autosave.timer.stop()


def test_declining_recovery_discards_the_journal(qtbot, shared_data, tmp_path):
    root = copy_subset(shared_data / "ufba425_teeth", tmp_path / "teeth", n=1)
    w = MainWindow()
    qtbot.addWidget(w)
    w.autosave.timer.stop()
    assert w.open_folder(root)
    w.tools.click(100, 100)
    assert w.session.pending_recovery() == [w.session.sample.id]
    w.session = None                                                # gone without saving (crash)
    second = MainWindow()
    qtbot.addWidget(second)
    second.ask = lambda q: False
    assert second.open_folder(root)
    assert second.session.pending_recovery() == []
    assert read_mask(next((root / "masks").iterdir()))[100, 100] == read_mask(
        next((shared_data / "ufba425_teeth" / "masks").glob(next((root / "masks").iterdir()).name)))[100, 100]
    for win in (w, second):
        win.autosave.timer.stop()
