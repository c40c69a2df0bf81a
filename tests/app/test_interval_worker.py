"""Train on my labels in the app: the model is active as soon as it is trained, its interval reads
"estimating…" while cross-validation runs in the background (idle priority, cancellable from the status
bar), then the training result and the model library show the measured interval."""

from __future__ import annotations

from core.data.project import Project
from core.hitl import measure_later
from tests.core.test_hitl_auto_train import thyroid_copy

TINY = {"size": 64, "model": {"name": "unet", "base_channels": 4, "norm": "batch"}, "max_steps": 4,
        "max_minutes": 0.0, "epochs": 2, "batch_size": 4, "threads": 1}


def _train(qtbot, window, root):
    assert window.open_folder(root)
    ctl = window.hitl
    ctl.auto_overrides = dict(TINY)
    measurer = ctl.training_ctl.measurer
    ctl.train_on_labels()
    qtbot.waitUntil(lambda: ctl.job is None and measurer.running, timeout=180_000)
    return ctl, measurer


def _stop_box_tuning(qtbot, ctl):
    """The box tool's tuning follows the interval (issue 17); not this test's subject: stopped, not left running."""
    tuner = ctl.training_ctl.box_tuner
    tuner.cancel()
    qtbot.waitUntil(lambda: not tuner.running, timeout=120_000)


def test_model_active_first_interval_estimated_in_the_background(qtbot, window, shared_data, tmp_path):
    root = thyroid_copy(shared_data / "tg3k_thyroid", tmp_path / "thyroid", labeled=16, unlabeled=2)
    ctl, measurer = _train(qtbot, window, root)
    project = Project.open(root)
    name = project.active_model
    assert name and project.model(name).metrics["val_method"] == measure_later.ESTIMATING  # active before the folds
    assert "estimating" in ctl.training.result_label.text() and name in ctl.training.result_label.text()
    assert measure_later.ESTIMATING in ctl.models.table.item(0, 2).text()
    assert measurer.widget.isVisible() and measurer.button.isEnabled()
    window.statusBar().grab().save("/tmp/h16_measure_running.png")
    qtbot.wait(100)                                   # the layout follows the new text in the next turn
    ctl.training.grab().save("/tmp/h16_result_estimating.png")
    qtbot.waitUntil(lambda: not measurer.running, timeout=300_000)
    metrics = Project.open(root).model(name).metrics
    assert metrics["val_method"] == "5-fold cross-validation over groups" and metrics["val_n"] == 16  # a fold per group
    result = ctl.training.result_label.text()
    assert "95 % CI" in result and "cross-validation over groups" in result and name in result
    assert "[" in ctl.models.table.item(0, 2).text() and not measurer.widget.isVisible()
    qtbot.wait(100)                                   # the layout follows the new text in the next turn
    ctl.training.grab().save("/tmp/h16_result_measured.png")
    _stop_box_tuning(qtbot, ctl)


def test_cancel_keeps_the_model_and_says_the_interval_was_not_estimated(qtbot, window, shared_data, tmp_path):
    root = thyroid_copy(shared_data / "tg3k_thyroid", tmp_path / "thyroid", labeled=16, unlabeled=2)
    ctl, measurer = _train(qtbot, window, root)
    name = Project.open(root).active_model
    measurer.button.click()
    assert "Stopping" in measurer.label.text()
    qtbot.waitUntil(lambda: not measurer.running, timeout=120_000)
    project = Project.open(root)
    metrics = project.model(name).metrics
    assert project.active_model == name and metrics["val_method"] == "validation split"
    assert "cancelled" in metrics["val_note"] and "cancelled" in ctl.training.result_label.text()
    _stop_box_tuning(qtbot, ctl)


def test_a_model_that_trained_on_its_validation_images_shows_no_figure_from_them(qtbot, window, shared_data, tmp_path):
    """From 20 labels the head's validation images train too (ADR 0015, seventh addendum): the result line then
    waits for the folds, neither quoting those images' Dice nor comparing the previous model on them."""
    root = thyroid_copy(shared_data / "tg3k_thyroid", tmp_path / "thyroid", labeled=16, unlabeled=2)
    ctl, measurer = _train(qtbot, window, root)
    assert "(first model)" in ctl.training.result_label.text()
    measurer.button.click()
    qtbot.waitUntil(lambda: not measurer.running, timeout=120_000)
    _stop_box_tuning(qtbot, ctl)
    ctl.auto_overrides = {**TINY, "val_trains": True}
    ctl.train_on_labels()
    qtbot.waitUntil(lambda: ctl.job is None and measurer.running, timeout=180_000)
    text = ctl.training.result_label.text()
    assert "estimating" in text and "is now the active model" in text, text
    assert "first model" not in text and "previous model" not in text and "validation images alone" not in text, text
    qtbot.wait(100)
    ctl.training.grab().save("/tmp/h17_result_val_trains.png")
    measurer.button.click()
    qtbot.waitUntil(lambda: not measurer.running, timeout=120_000)
    _stop_box_tuning(qtbot, ctl)
