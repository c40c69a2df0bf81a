"""Acquisition groups in the Dataset panel (row text, filter, summary) and Dice intervals in the Models panel."""

from __future__ import annotations

from app.panels.models import DICE
from core.data.groups import ensure_groups
from core.data.layouts import load_index
from core.data.project import ModelEntry, Project
from tests.core.test_groups import thyroid_folder


def test_dataset_panel_shows_and_filters_stored_groups(main_window, shared_data, tmp_path):
    root = thyroid_folder(shared_data, tmp_path / "thyroid", list(range(200, 301)))
    project = Project.open(root)
    ensure_groups(project, project.apply(load_index(root)))  # what the first Train on my labels does
    project.add_model(ModelEntry("finetune-1", "models/finetune-1/best.safetensors", "finetune", "2026-12-02T01:00:00",
                                 {"val_dice": 0.712, "val_ci": [0.61, 0.8], "val_n": 20, "val_groups": 11,
                                  "val_method": "4-fold cross-validation over groups", "holdout_dice": 0.85,
                                  "holdout_n": 3, "val_note": "validation holds 3 images from 2 groups"}),
                      make_active=True)
    project.save()
    w = main_window
    assert w.open_folder(root)
    panel = w.dataset
    assert "3 acquisition groups" in panel.summary.text()
    assert [panel.group.itemText(i) for i in range(panel.group.count())] == [
        "all groups", "clip 0203-0240 (9)", "clip 0246-0270 (10)", "clip 0274-0299 (11)"]
    first = panel.model.data(panel.model.index(0))
    assert first.startswith("0203\n") and "clip 0203-0240" in first
    panel.group.setCurrentIndex(2)
    assert panel.model.rowCount() == 10
    assert all("clip 0246-0270" in panel.model.data(panel.model.index(r)) for r in range(10))
    models = w.hitl.models
    item = models.table.item(0, DICE)
    assert item.text() == "0.712 [0.61–0.80]"
    tip = item.toolTip()
    assert "95 % CI 0.610–0.800; 20 images, 11 groups" in tip and "4-fold cross-validation" in tip
    assert "validation split alone: 0.850 (3 images)" in tip
    w.resize(1400, 800)
    w.grab().save("/tmp/toothseg_groups_panel.png")
    assert "Validation Dice 0.712 (95 % CI 0.610–0.800; 20 images, 11 groups)" in models.info.text()
    models.raise_()
    models.grab().save("/tmp/toothseg_models_ci.png")
    panel.group.setCurrentIndex(0)
    assert panel.model.rowCount() == 30
