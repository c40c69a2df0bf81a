"""The Training panel's Advanced form, generated from the recipe fields' knobs (``core.train.fields``).

Every field whose knob has a title gets a widget: a menu for choices (the model menu lists the model
registry), a spin box bounded by the knob's range otherwise, the knob's help as tooltip and its
``off`` text for the lowest value. Fields the chosen mode does not use are shown disabled.
"""

from __future__ import annotations

from PySide6 import QtWidgets

from core.capabilities import torch_available
from core.train.fields import MODEL_SPECS, Spec, default_of, specs
from core.train.recipe import Recipe


def model_names() -> list[str]:
    """The model registry's names; none in the slim build, where training is off anyway."""
    if not torch_available():
        return []
    from core.models.registry import model_names as registered

    return registered()


def _spin(spec: Spec, kind: type) -> QtWidgets.QAbstractSpinBox:
    """A spin box over the knob's range (an open end stops one display step short of the bound)."""
    if kind is float:
        w = QtWidgets.QDoubleSpinBox()
        w.setDecimals(spec.decimals or 2)
        w.setSingleStep(spec.step)
        tick = 10.0 ** -w.decimals()
        w.setRange(float(spec.lo) + (tick if spec.lo_open else 0), float(spec.hi) - (tick if spec.hi_open else 0))
    else:
        w = QtWidgets.QSpinBox()
        w.setSingleStep(int(spec.step))
        w.setRange(int(spec.lo) + spec.lo_open, int(spec.hi) - spec.hi_open)
    if spec.off:
        w.setSpecialValueText(spec.off)
    return w


def _menu(items: list[tuple[str, str]]) -> QtWidgets.QComboBox:
    w = QtWidgets.QComboBox()
    for value, title in items:
        w.addItem(title, value)
    return w


class RecipeForm(QtWidgets.QWidget):
    """One row per shown field; ``fields`` maps the recipe key ("model" for the model's name) to its widget."""

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        form = QtWidgets.QFormLayout(self)
        form.setFieldGrowthPolicy(QtWidgets.QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.fields: dict[str, QtWidgets.QWidget] = {}
        self._specs: dict[str, tuple[type, Spec]] = {}
        rows = [("model" if key == "name" else key, kind, spec) for key, (kind, spec) in MODEL_SPECS.items()]
        rows += [(f.name, type(default_of(f)), spec) for f, spec in specs(Recipe) if spec.title]
        for key, kind, spec in rows:
            if key == "model":
                w: QtWidgets.QWidget = _menu([(n, n) for n in model_names()])
            elif spec.choices:
                w = _menu(list(spec.choices.items()))
            else:
                w = _spin(spec, kind)
            w.setObjectName(f"recipe_{key}")
            if spec.help:
                w.setToolTip(spec.help[:1].upper() + spec.help[1:])
            self.fields[key] = w
            self._specs[key] = (kind, spec)
            form.addRow(spec.title, w)

    def show_recipe(self, recipe: Recipe) -> None:
        """The recipe's values in the widgets; fields its mode does not use are disabled."""
        for key, w in self.fields.items():
            kind, spec = self._specs[key]
            value = recipe.model.get(key if key != "model" else "name") if key in ("model", "base_channels") \
                else getattr(recipe, key)
            if isinstance(w, QtWidgets.QComboBox):
                if w.findData(value) < 0:  # a stored recipe may name a model this build does not list
                    w.addItem(str(value), value)
                w.setCurrentIndex(w.findData(value))
            elif value is not None:
                w.setValue(kind(value))
            w.setEnabled(spec.used_by(recipe.mode))

    def changes(self, base: Recipe) -> dict:
        """Recipe keys as the widgets hold them; the model keeps the base recipe's other settings (norm)."""
        model = dict(base.model)
        out: dict = {"model": model}
        for key, w in self.fields.items():
            kind, _spec = self._specs[key]
            value = w.currentData() if isinstance(w, QtWidgets.QComboBox) else kind(w.value())
            if key == "model":
                model["name"] = value
            elif key == "base_channels":
                model["base_channels"] = value
            else:
                out[key] = value
        return out
