"""The Training panel's Advanced form is generated from the recipe fields' knobs and the model registry
(issue 21): every titled knob has a row bounded by its range, modes that do not use a field disable it,
and what the form holds is a valid recipe change."""

from __future__ import annotations

from PySide6 import QtWidgets

from app.panels.training import TrainingPanel
from core.models.registry import model_names
from core.train.fields import MODE_LIST, MODEL_SPECS, specs
from core.train.recipe import Recipe, default_recipe


def test_form_rows_come_from_the_knobs_and_the_model_menu_from_the_registry(qtbot, tmp_path):
    panel = TrainingPanel()
    qtbot.addWidget(panel)
    panel.advanced.setChecked(True)                                     # unchecked, the group disables its rows
    titled = {f.name: spec for f, spec in specs(Recipe) if spec.title}
    assert set(panel.fields) == {"model", "base_channels", *titled}
    menu = panel.fields["model"]
    assert [menu.itemData(i) for i in range(menu.count())] == model_names()
    assert [panel.mode.itemData(i) for i in range(panel.mode.count())] == [m.name for m in MODE_LIST]
    assert panel.mode.currentText() == "Fine-tune"
    lo, hi = MODEL_SPECS["base_channels"][1].lo, MODEL_SPECS["base_channels"][1].hi
    assert (panel.fields["base_channels"].minimum(), panel.fields["base_channels"].maximum()) == (lo, hi)
    smoothing = panel.fields["label_smoothing"]
    assert (smoothing.minimum(), smoothing.maximum(), smoothing.text()) == (0.0, 0.5, "off")
    assert panel.fields["zoom"].maximum() < 0.5                         # an open upper bound stays below it
    for mode in MODE_LIST:
        panel.set_mode(mode.name)
        for key, spec in titled.items():
            assert panel.fields[key].isEnabled() == spec.used_by(mode.name), (mode.name, key)
        changes = panel.recipe_changes()
        assert default_recipe(mode.name).updated(**changes).to_json() == default_recipe(mode.name).to_json()
    panel.set_mode("finetune")
    smoothing.setValue(0.1)
    panel.fields["model"].setCurrentIndex(panel.fields["model"].findData("small_unet"))
    recipe = default_recipe("finetune").updated(**panel.recipe_changes())
    assert recipe.label_smoothing == 0.1 and recipe.model == {"name": "small_unet", "base_channels": 16,
                                                             "norm": "batch"}
    panel.resize(420, 900)
    panel.show()
    QtWidgets.QApplication.processEvents()
    assert panel.grab().save(str(tmp_path / "training-advanced.png"))
