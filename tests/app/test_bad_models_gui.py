"""The bad-model corpus in the app (issue 18 item 5): every malformed checkpoint description and ONNX
model of ``tests/core/bad_model_cases`` registered in a real project, then Set active and Show as
overlay: one plain message each (never "Unexpected error", no traceback under Details), the good
model stays active, no overlay is drawn, and no file of the project changes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PySide6 import QtCore, QtWidgets

from app.canvas.view import OVERLAY
from core.data.project import Project
from tests.app.conftest import copy_subset
from tests.app.test_hitl_panels import register_copy
from tests.core.bad_input_cases import build_case, case_ids, tree_digest
from tests.core.bad_model_cases import ONNX_CASES, SIDECAR_CASES, model_env  # noqa: F401  (a fixture)

CASES = SIDECAR_CASES + ONNX_CASES
VOLATILE = ("lock.json",)  # the edit lock's heartbeat (ADR 0009) is rewritten while the folder is open


def error_boxes(window) -> list[QtWidgets.QMessageBox]:
    return [b for b in window.findChildren(QtWidgets.QMessageBox, "errorBox") if b.isVisible()]


def digest(root: Path) -> dict[str, str]:
    return {k: v for k, v in tree_digest(root).items() if not k.split("@")[0].endswith(VOLATILE)}


def click_and_read_error(window, qtbot, button: str) -> list[tuple[str, str]]:
    """Press a Models button; the (text, details) of every error box it opened, which are then closed."""
    qtbot.mouseClick(window.hitl.models.buttons[button], QtCore.Qt.MouseButton.LeftButton)
    QtCore.QThreadPool.globalInstance().waitForDone(30_000)
    qtbot.wait(50)  # queued worker signals reach the UI thread
    found = [(b.text(), b.detailedText()) for b in error_boxes(window)]
    for b in error_boxes(window):
        b.done(0)
    return found


def check_one_message(case, button: str, found: list[tuple[str, str]]) -> list[str]:
    where = f"{case.id} / {button}"
    if len(found) != 1:
        return [f"{where}: expected one error box, got {len(found)}: {found}"]
    text, details = found[0]
    problems = []
    if "unexpected" in text.lower() or details or "Traceback" in text:
        problems.append(f"{where}: not a plain message: {text!r} (details {details[:200]!r})")
    if len(text.strip().splitlines()) != 1:
        problems.append(f"{where}: expected one line, got {text!r}")
    fragment = case.fragment(button).lower()
    if fragment and fragment not in text.lower():
        problems.append(f"{where}: message {text!r} does not say {fragment!r}")
    return problems


@pytest.fixture(scope="module")
def gui(qapp, model_env, shared_data, tmp_path_factory):  # noqa: F811
    """One window on a real thyroid project holding a good active model and a model slot "bad" whose
    files each case replaces (a window per case would cost the suite minutes)."""
    from app.main_window import MainWindow

    base = tmp_path_factory.mktemp("bad_models_gui")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TOOTHSEG_USER_DATA", str(base / "userdata"))
        root = copy_subset(shared_data / "tg3k_thyroid", base / "thyroid", n=2)
        register_copy(root, "good", model_env.checkpoint, model_env.onnx, active=True)
        register_copy(root, "bad", model_env.checkpoint, model_env.onnx, active=False)
        w = MainWindow()
        w.ask = lambda question: True
        w.show()
        assert w.open_folder(root)
        w.hitl.refresh_models()
        yield w, root, Project.open(root).dir / "models" / "bad"
        QtCore.QThreadPool.globalInstance().waitForDone(30_000)
        w.autosave.timer.stop()
        w.dataset.model.thumbs.stop()
        if w.session is not None:
            w.session.cache.close()
        w.close()
        w.deleteLater()


@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_bad_model_is_refused_by_set_active_and_overlay(case, model_env, gui, qtbot, tmp_path):  # noqa: F811
    w, root, slot = gui
    inputs, _ = build_case(case, model_env, tmp_path / "case")
    shutil.copy(inputs.checkpoint, slot / "best.json")
    shutil.copy(Path(inputs.checkpoint).with_suffix(".safetensors"), slot / "best.safetensors")
    shutil.copy(inputs.onnx or model_env.onnx, slot / "model.onnx")
    before = digest(root)
    w.hitl.refresh_models()
    w.hitl.models.select("bad")
    assert w.hitl.models.selected() == "bad"

    problems = check_one_message(case, "activate", click_and_read_error(w, qtbot, "activate"))
    assert w.session.project.active_model == "good"
    problems += check_one_message(case, "overlay", click_and_read_error(w, qtbot, "overlay"))
    overlay = w.instance_list.overlay
    assert overlay.model is None and w.canvas.layers[OVERLAY].buffer is None
    assert digest(root) == before, "the project changed"
    assert Project.open(root).active_model == "good"
    assert not problems, "\n".join(problems)


def test_good_model_activates_and_overlays(model_env, window, qtbot, shared_data, tmp_path):  # noqa: F811
    """The control: the same clicks on the unbroken model succeed (so a refusal above means something)."""
    root = copy_subset(shared_data / "tg3k_thyroid", tmp_path / "thyroid", n=2)
    register_copy(root, "good", model_env.checkpoint, model_env.onnx, active=True)
    register_copy(root, "other", model_env.checkpoint, model_env.onnx, active=False)
    w = window
    assert w.open_folder(root)
    w.hitl.refresh_models()
    w.hitl.models.select("other")
    assert click_and_read_error(w, qtbot, "activate") == []
    assert w.session.project.active_model == "other" and Project.open(root).active_model == "other"
    assert click_and_read_error(w, qtbot, "overlay") == []
    overlay = w.instance_list.overlay
    qtbot.waitUntil(lambda: overlay.sample_id == w.session.sample.id, timeout=30_000)
    assert overlay.labels.shape == w.session.editor.shape
    assert w.canvas.layers[OVERLAY].buffer is not None
