"""HITL panels on real thyroid frames: the slim (torch-free) build, MIM preview quartet + warm start,
two models side by side in the evaluation view, and the model library's actions."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PySide6 import QtGui, QtWidgets

from core.capabilities import TRAINING_NEEDS_FULL_BUILD
from core.data.project import ModelEntry, Project
from core.export.onnx import export_onnx
from tests.core.test_hitl_auto_train import thyroid_copy
from tests.core.tiny_trained import cached_tiny


@pytest.fixture(scope="module")
def tiny_models(shared_data, tmp_path_factory):
    """Two real tiny thyroid models (40 and 8 training steps), each with its ONNX export."""
    base = tmp_path_factory.getbasetemp()
    out = []
    for steps in (40, 8):
        sidecar = cached_tiny(shared_data, base, steps=steps)
        onnx = sidecar.parent / "model.onnx"
        export_onnx(sidecar, onnx, images=str(shared_data / "tg3k_thyroid" / "images"), max_images=2)
        out.append((sidecar, onnx))
    return out


def register_copy(root: Path, name: str, sidecar: Path, onnx: Path, active: bool = True) -> None:
    project = Project.open(root)
    run = project.dir / "models" / name
    run.mkdir(parents=True)
    shutil.copy(sidecar, run / "best.json")
    shutil.copy(sidecar.with_suffix(".safetensors"), run / "best.safetensors")
    shutil.copy(onnx, run / "model.onnx")
    project.add_model(ModelEntry(name=name, path=f"models/{name}/best.safetensors", mode="finetune",
                                 created="2026-11-23T12:00:00", metrics={"val_dice": 0.5}, onnx=f"models/{name}/model.onnx",
                                 fingerprint="tg3k-tiny"), make_active=active)
    project.save()


def errors(window) -> list[str]:
    return [b.text() for b in window.findChildren(QtWidgets.QMessageBox, "errorBox") if b.isVisible()]


def test_slim_build_disables_training_but_predicts_and_reviews(qtbot, shared_data, tmp_path, tiny_models,
                                                               monkeypatch):
    import app.hitl
    from app.main_window import MainWindow

    monkeypatch.setattr(app.hitl, "torch_available", lambda: False)
    root = thyroid_copy(shared_data / "tg3k_thyroid", tmp_path / "thyroid", labeled=5, unlabeled=4)
    register_copy(root, "tiny", *tiny_models[0])
    window = MainWindow()  # built after the patch, as a slim build would be
    window.ask = lambda question: True
    qtbot.addWidget(window)
    ctl = window.hitl
    assert window.open_folder(root)
    t = ctl.training
    for w in (t.auto_button, t.start_button, t.resume_button, ctl.label_next.refresh_button,
              ctl.evaluation.run_button, ctl.models.buttons["export"]):
        assert not w.isEnabled(), w.text()
    assert t.auto_button.toolTip() == TRAINING_NEEDS_FULL_BUILD and TRAINING_NEEDS_FULL_BUILD in t.plan_label.text()
    assert not ctl.actions["train_on_labels"].isEnabled()
    ctl.train_on_labels()                                               # the action path refuses too, and says why
    assert ctl.job is None and errors(window) == [TRAINING_NEEDS_FULL_BUILD]
    for box in window.findChildren(QtWidgets.QMessageBox, "errorBox"):
        box.close()
    # ONNX prediction and the review queue keep working
    ctl.predict("current")
    qtbot.waitUntil(lambda: window.canvas.prediction is not None, timeout=20000)
    assert ctl.models.buttons["predict_unlabeled"].isEnabled()
    ctl.models.buttons["predict_unlabeled"].click()
    qtbot.waitUntil(lambda: ctl.review.table.rowCount() == 4, timeout=30000)
    ctl.review.buttons["accept"].click()
    assert ctl.review.table.rowCount() == 3 and not errors(window)
    assert list(Project.open(root).status.values()).count("reviewed") == 1


def test_mim_pretrain_shows_preview_quartet_and_warm_starts_next_run(qtbot, window, shared_data, tmp_path,
                                                                   monkeypatch):
    from core.hitl import plan

    monkeypatch.setattr(plan, "foundation_available", lambda: False)  # a U-Net plan, which starts from MIM
    root = thyroid_copy(shared_data / "tg3k_thyroid", tmp_path / "thyroid", labeled=6, unlabeled=6)
    ctl = window.hitl
    assert window.open_folder(root)
    t = ctl.training
    t.set_mode("pretrain-mim")
    t.advanced.setChecked(True)
    assert t.fields["mask_ratio"].isEnabled() and not t.fields["ema_alpha"].isEnabled()
    assert not t.fields["weight_ema"].isEnabled() and t.fields["schedule"].currentData() == "plateau"
    t.fields["schedule"].setCurrentIndex(t.fields["schedule"].findData("cosine"))
    t.fields["size"].setValue(64)
    assert t.fields["width"].text() == "square"
    t.fields["width"].setValue(96)
    assert t.fields["zoom"].text() == "off"
    t.fields["zoom"].setValue(0.2)
    t.fields["base_channels"].setValue(4)
    t.fields["epochs"].setValue(2)
    t.fields["batch_size"].setValue(4)
    t.fields["model"].setCurrentText("unet")
    changes = t.recipe_changes()
    assert changes["size"] == 64 and changes["model"]["base_channels"] == 4 and changes["schedule"] == "cosine"
    assert changes["width"] == 96 and changes["zoom"] == pytest.approx(0.2)
    t.start_button.click()
    qtbot.waitUntil(lambda: ctl.job is None and "saved" in t.result_label.text(), timeout=90000)
    assert not errors(window)
    assert t.preview.isVisible() or t.preview.names                     # the quartet arrived
    assert [lbl.text() for lbl, _i, _g in t.preview.views] == ["masked input", "target", "reconstruction",
                                                               "abs error"]
    assert t.curves.points("loss") > 0 and t.curves.points("val_loss") == 2
    project = Project.open(root)
    assert project.models[0].mode == "pretrain-mim" and project.active_model == ""   # not a segmentation model
    from core.hitl.auto_train import model_path
    from core.models.checkpoint import read_sidecar

    sidecar = read_sidecar(model_path(project, project.models[0]))
    assert sidecar["recipe"]["schedule"] == "cosine"                    # the Advanced fields reached core
    assert sidecar["input_size"] == [64, 96] and sidecar["recipe"]["zoom"] == pytest.approx(0.2)
    assert "warm start from pretrain-mim" in t.plan_label.text()        # Train on my labels starts from it


def test_compare_two_models_side_by_side_and_library_actions(qtbot, window, shared_data, tmp_path, tiny_models):
    root = thyroid_copy(shared_data / "tg3k_thyroid", tmp_path / "thyroid", labeled=8, unlabeled=0)
    register_copy(root, "longer", *tiny_models[0])
    register_copy(root, "shorter", *tiny_models[1], active=False)
    ctl = window.hitl
    assert window.open_folder(root)
    assert ctl.models.table.rowCount() == 2 and ctl.models.table.item(0, 0).text() == "●"
    e = ctl.evaluation
    assert e.model_a.currentText() == "longer"
    e.model_b.setCurrentText("shorter")
    assert e.split.currentData() == "all" and e.split.currentText() == "all: 8 = 8 no split yet"  # no splits yet
    e.select_split("test")
    e.run_button.click()
    qtbot.waitUntil(lambda: bool(errors(window)), timeout=60000)
    assert "no labeled images in split 'test'" in errors(window)[0]
    for box in window.findChildren(QtWidgets.QMessageBox, "errorBox"):
        box.close()
    e.select_split("all")
    e.run_button.click()
    qtbot.waitUntil(lambda: e.table.rowCount() == 8, timeout=60000)
    assert e.table.columnCount() == 7 and "shorter" in e.summary.text()  # + origin, estimated Dice
    assert "95 % CI" in e.summary.text() and "8 images" in e.summary.text()  # n, groups and interval
    dice_a = [float(e.table.item(r, 1).text()) for r in range(8)]
    assert dice_a == sorted(dice_a)                                     # worst first
    for r in range(8):
        a, b, delta = (float(e.table.item(r, c).text()) for c in (1, 3, 4))
        assert delta == pytest.approx(b - a, abs=2e-4)
    # library: set active, delete (files go too)
    ctl.models.select("shorter")
    ctl.models.buttons["activate"].click()
    assert Project.open(root).active_model == "shorter"
    ctl.models.buttons["delete"].click()
    project = Project.open(root)
    assert [m.name for m in project.models] == ["longer"] and project.active_model == "longer"
    assert not (project.dir / "models" / "shorter").exists() and not errors(window)


SLIM_SCRIPT = r"""
import sys, time
class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("this is the slim build")
sys.meta_path.insert(0, NoTorch())
from PySide6 import QtGui, QtWidgets
app = QtWidgets.QApplication([])
from app.main_window import MainWindow
w = MainWindow()
w.ask = lambda q: True
ctl = w.hitl
assert w.open_folder(sys.argv[1])
assert not ctl.torch and not ctl.training.auto_button.isEnabled()
ctl.predict("unlabeled")
t = time.time()
while ctl.review.table.rowCount() == 0 and time.time() - t < 60:
    app.processEvents(); time.sleep(0.02)
ctl.review.buttons["accept"].click()
w.session.cache.close()
print("rows", ctl.review.table.rowCount(), "torch_loaded", "torch" in sys.modules)
"""


def test_review_queue_and_onnx_prediction_with_torch_really_missing(shared_data, tmp_path, tiny_models):
    import os
    import subprocess
    import sys

    root = thyroid_copy(shared_data / "tg3k_thyroid", tmp_path / "thyroid", labeled=5, unlabeled=4)
    register_copy(root, "tiny", *tiny_models[0])
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    out = subprocess.run([sys.executable, "-c", SLIM_SCRIPT, str(root)], capture_output=True, text=True, env=env,
                         timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "rows 3 torch_loaded False" in out.stdout
    assert list(Project.open(root).status.values()).count("reviewed") == 1


def test_every_model_shortcut_of_the_table_reaches_its_action(qtbot, window, shared_data, tmp_path, monkeypatch):
    """The "model" rows of app/actions.py: each key runs the controller call the row names."""
    from app.actions import specs

    root = thyroid_copy(shared_data / "tg3k_thyroid", tmp_path / "thyroid", labeled=4, unlabeled=2)
    assert window.open_folder(root)
    ctl, calls = window.hitl, []
    monkeypatch.setattr(ctl, "train_on_labels", lambda *a: calls.append("train_on_labels"))
    monkeypatch.setattr(ctl, "predict", lambda scope: calls.append(f"predict_{scope}"))
    monkeypatch.setattr(ctl, "toggle_saliency", lambda *a: calls.append("saliency"))
    monkeypatch.setattr(ctl.review, "trigger", lambda what: calls.append(f"review_{what}"))
    expected = {"train_on_labels": "train_on_labels", "predict_current": "predict_current",
                "predict_unlabeled": "predict_unlabeled", "saliency": "saliency", "review_accept": "review_accept",
                "review_reject": "review_reject", "review_edit": "review_edit"}
    keyed = [spec for spec in specs("model") if spec.keys]
    assert {spec.name for spec in keyed} == set(expected)
    for spec in keyed:
        combo = QtGui.QKeySequence(spec.keys[0])[0]
        qtbot.keyClick(window.canvas, combo.key(), combo.keyboardModifiers())
        QtWidgets.QApplication.processEvents()
        assert calls[-1:] == [expected[spec.name]], spec.name
    assert {spec.name for spec in specs("model")} <= set(ctl.actions)


def test_label_next_by_coverage_without_a_model_and_uncertainty_asks_for_one(qtbot, shared_data, tmp_path):
    from app.main_window import MainWindow

    root = thyroid_copy(shared_data / "tg3k_thyroid", tmp_path / "thyroid", labeled=4, unlabeled=12)
    window = MainWindow()
    window.ask = lambda question: True
    qtbot.addWidget(window)
    assert window.open_folder(root)
    panel = window.hitl.label_next
    panel.ranking.setCurrentText("Model uncertainty (entropy)")
    panel.refresh_button.click()
    assert errors(window) and "needs an active model" in errors(window)[0] and panel.list.count() == 0
    for box in window.findChildren(QtWidgets.QMessageBox, "errorBox"):
        box.close()
    panel.ranking.setCurrentText("Coverage (typical images no label covers yet)")
    panel.refresh_button.click()
    qtbot.waitUntil(lambda: panel.list.count() > 0, timeout=20000)
    unlabeled = {p.stem for p in (root / "unlabeled").iterdir()}
    assert panel.list.count() == 12 and "coverage" in panel.method.text()
    assert {sid.split("/")[-1].rsplit(".", 1)[0] for sid in panel.ids} == unlabeled
    panel.list.itemActivated.emit(panel.list.item(0))
    assert window.session.sample.id == panel.ids[0]
    assert not errors(window)


def test_flip_tta_is_remembered_and_reaches_every_prediction_path(qtbot, window, shared_data, tmp_path, tiny_models,
                                                                  monkeypatch):
    import numpy as np

    from app import preferences
    from app.main_window import MainWindow
    from core.data.io import read_image
    from core.infer.predictor import load_predictor

    root = thyroid_copy(shared_data / "tg3k_thyroid", tmp_path / "thyroid", labeled=5, unlabeled=3)
    sidecar, onnx = tiny_models[0]
    register_copy(root, "tiny", sidecar, onnx)
    assert window.open_folder(root)
    ctl = window.hitl
    action = ctl.actions["flip_tta"]
    assert action.isCheckable() and not action.isChecked() and not ctl.tta
    assert action in window.findChild(QtWidgets.QMenu, "modelMenu").actions()
    action.trigger()
    assert ctl.tta and preferences.get("flip_tta") is True
    ctl.predict("current")
    qtbot.waitUntil(lambda: window.canvas.prediction is not None, timeout=20000)
    image = read_image(window.session.sample.image)
    expected = load_predictor(onnx, tta=True).predict(image).mask
    assert not np.array_equal(expected, load_predictor(onnx).predict(image).mask)  # TTA changes this mask
    assert np.array_equal(window.canvas.prediction > 0, expected > 0)
    seen = {}
    import core.hitl.review as review

    real = review.predict_for_review
    monkeypatch.setattr("app.controllers.review.predict_for_review",
                        lambda *a, **k: seen.update(k) or real(*a, **k))
    ctl.predict("unlabeled")
    qtbot.waitUntil(lambda: ctl.review.table.rowCount() == 3, timeout=30000)
    assert seen.get("tta") is True and not errors(window)
    e = ctl.evaluation
    e.select_split("all")
    e.run_button.click()
    qtbot.waitUntil(lambda: e.table.rowCount() == 5, timeout=60000)
    assert "flip test-time augmentation" in e.summary.text()
    from core.train.evaluate import evaluate

    scores = sorted(r["dice"] for r in evaluate(sidecar, root, split="all", tta=True)["per_image"])
    assert [float(e.table.item(r, 1).text()) for r in range(5)] == pytest.approx(scores, abs=2e-4)
    later = MainWindow()                                   # the next session starts with it on
    qtbot.addWidget(later)
    assert later.hitl.tta and later.hitl.actions["flip_tta"].isChecked()
    later.hitl.actions["flip_tta"].trigger()
    assert preferences.get("flip_tta") is False
