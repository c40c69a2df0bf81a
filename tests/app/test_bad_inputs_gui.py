"""The bad-input corpus through the GUI's open path: every dataset case of ``tests/core/test_bad_inputs``
opened in the main window must end in the folder shown or one clear message box, never an
"Unexpected error", and must leave every file of the input as it was.

One window serves the whole module (building a MainWindow per case would cost more than the
cases); each case closes its message boxes and its session before the next opens a folder.
"""

from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtWidgets

from tests.core.bad_input_cases import build_case, case_ids, corpus_pixels, tree_digest  # noqa: F401
from tests.core.test_bad_inputs import ALL_CASES, JOURNAL_CASES

GUI_CASES = [c for c in ALL_CASES if not c.id.startswith(("zip-", "resume-"))]  # archives: below; runs: CLI only


@pytest.fixture(scope="module")
def window(qapp):
    from app.main_window import MainWindow

    w = MainWindow()
    w.ask = lambda question: True
    w.show()
    yield w
    w.autosave.timer.stop()
    w.dataset.model.thumbs.stop()
    if w.session is not None:
        w.session.close()
    w.close()
    w.deleteLater()


def error_boxes(window) -> list[QtWidgets.QMessageBox]:
    return window.findChildren(QtWidgets.QMessageBox, "errorBox")


def unchanged_except_new_project_files(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Paths that changed or vanished; new files under .toothseg (the edit lock) are the app's own."""
    changed = [k for k, v in before.items() if after.get(k) != v]
    added = [k for k in after if k not in before and not k.startswith(".toothseg")]
    return changed + added


@pytest.mark.parametrize("case", GUI_CASES, ids=case_ids(GUI_CASES))
def test_bad_input_opens_or_says_why(case, window, corpus_pixels, tmp_path):  # noqa: F811
    inputs, _ = build_case(case, corpus_pixels, tmp_path)
    before = {str(w): tree_digest(w) for w in inputs.watch}
    opened = window.open_folder(inputs.data)
    window.dataset.model.thumbs.stop()   # thumbnails of the bad files are made (and refused) before checking
    texts = [box.text() for box in error_boxes(window)]
    for box in error_boxes(window):
        box.close()
        box.setParent(None)
    if window.session is not None:
        window.session.close()
        window.session = None
    assert not [t for t in texts if t.startswith("Unexpected error")], texts
    assert all("\n" not in t and t.strip() for t in texts), texts
    assert opened or texts, "the folder neither opened nor said why"
    for w in inputs.watch:
        assert unchanged_except_new_project_files(before[str(w)], tree_digest(w)) == []


@pytest.mark.parametrize("name, bad, later_restored", JOURNAL_CASES, ids=[c[0] for c in JOURNAL_CASES])
def test_damaged_journal_on_open_is_skipped_with_a_message(window, corpus_pixels, tmp_path, name, bad,  # noqa: F811
                                                           later_restored):
    from core.data.io import read_mask
    from core.data.project import Project
    from core.data.recovery import RecoveryJournal

    root = corpus_pixels.good_dataset(tmp_path / "data")
    journal = RecoveryJournal(Project.open(root).dir / "recovery")   # what a killed earlier session left
    journal.append("good0", (256, 256), 10, 10, np.ones((3, 3), np.uint8))
    with open(journal.path_for("good0"), "ab") as fh:
        fh.write(bad)
    journal.append("good0", (256, 256), 200, 10, np.ones((2, 2), np.uint8))
    assert window.open_folder(root)
    texts = [box.text() for box in error_boxes(window)]
    for box in error_boxes(window):
        box.close()
        box.setParent(None)
    window.session.close()
    window.session = None
    assert len(texts) == 1 and "skipped" in texts[0] and "good0" in texts[0] and "\n" not in texts[0], texts
    assert texts[0].startswith(f"Restored {2 if later_restored else 1} stroke(s) on 1 image(s)")
    labels = read_mask(root / "masks" / "good0.png")
    assert (labels[10:13, 10:13] == 1).all() and (labels[200:202, 10:12] == 1).all() == later_restored


ZIP_CASES = [c for c in ALL_CASES if c.id.startswith("zip-")]


@pytest.mark.parametrize("case", ZIP_CASES, ids=case_ids(ZIP_CASES))
def test_bad_archive_in_import_dialog_path_says_why(case, window, corpus_pixels, tmp_path, qtbot):  # noqa: F811
    """The Import STS-2D-Tooth worker on each bad archive: one clear box, nothing extracted."""
    from app.workers import _running

    inputs, _ = build_case(case, corpus_pixels, tmp_path)
    before = tree_digest(inputs.parts)
    verify = "import-sts-verify" in case.runs
    dest = tmp_path / "work" / "sts"
    dest.parent.mkdir()
    job = window.run_import(dest, inputs.parts, verify=verify, record_url="http://127.0.0.1:9/none")
    qtbot.waitUntil(lambda: job not in _running, timeout=60_000)
    texts = [box.text() for box in error_boxes(window)]
    for box in error_boxes(window):
        box.close()
        box.setParent(None)
    assert len(texts) == 1 and "\n" not in texts[0] and not texts[0].startswith("Unexpected error"), texts
    assert case.says.lower() in texts[0].lower(), texts
    assert tree_digest(inputs.parts) == before and list(dest.parent.iterdir()) == []
