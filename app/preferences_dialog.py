"""Preferences: autosave interval, default training budget, device, default paint mode, theme and
the error-view colours. Stored in the user-data ``preferences.json`` (``app.preferences``) and
applied to the running window at once and at every start."""

from __future__ import annotations

from typing import Any

from PySide6 import QtGui, QtWidgets

from app import preferences
from core.annotation import render
from core.annotation.paint_guard import PAINT_MODES

DEVICES = (("auto", "Automatic (CUDA, Apple MPS, else CPU)"), ("cpu", "CPU"), ("cuda", "CUDA GPU"),
           ("mps", "Apple MPS"))
THEMES = (("dark", "Dark (the image is the brightest thing on screen)"), ("system", "System"))
DEFAULTS: dict[str, Any] = {"autosave_s": 3.0, "budget_min": 0.0, "device": "auto", "paint_mode": "all",
                            "theme": "dark", "fp_color": render.rgb_hex(render.FP_COLOR),
                            "fn_color": render.rgb_hex(render.FN_COLOR)}


def current() -> dict[str, Any]:
    """The stored preferences over the defaults; values of the wrong type fall back to the default."""
    stored = preferences.get("editor", {})
    out = dict(DEFAULTS)
    if isinstance(stored, dict):
        for key, default in DEFAULTS.items():
            value = stored.get(key)
            if isinstance(value, type(default)) or (isinstance(default, float) and isinstance(value, int)):
                out[key] = type(default)(value)
    out["autosave_s"] = min(max(out["autosave_s"], 1.0), 120.0)
    out["budget_min"] = min(max(out["budget_min"], 0.0), 600.0)
    for key, choices in (("device", DEVICES), ("theme", THEMES), ("paint_mode", tuple(PAINT_MODES.items()))):
        if out[key] not in dict(choices):
            out[key] = DEFAULTS[key]
    for key in ("fp_color", "fn_color"):
        if not QtGui.QColor(out[key]).isValid():
            out[key] = DEFAULTS[key]
    return out


def apply(window, prefs: dict[str, Any], theme: bool = False) -> None:
    """Make the running window follow ``prefs`` (the theme too with ``theme``: ``app.main`` sets it at start)."""
    window.autosave.timer.setInterval(int(prefs["autosave_s"] * 1000))
    window.hitl.training_ctl.follow_preferences(prefs["budget_min"] or None, prefs["device"])
    combo = window.layers.paint_mode
    combo.setCurrentIndex(max(combo.findData(prefs["paint_mode"]), 0))
    window.canvas.error_colors = tuple(tuple(QtGui.QColor(prefs[k]).getRgb()[:3]) for k in ("fp_color", "fn_color"))
    window.canvas.refresh_errors()
    app = QtWidgets.QApplication.instance()
    if theme and app is not None:
        app.setStyleSheet(theme_style(prefs))


def theme_style(prefs: dict[str, Any]) -> str:
    from app.icons import style_sheet

    return style_sheet() if prefs["theme"] == "dark" else ""


class PreferencesDialog(QtWidgets.QDialog):
    def __init__(self, prefs: dict[str, Any], parent=None):
        super().__init__(parent)
        self.setObjectName("preferencesDialog")
        self.setWindowTitle("Preferences")
        form = QtWidgets.QFormLayout(self)
        self.autosave = QtWidgets.QDoubleSpinBox()
        self.autosave.setRange(1, 120)
        self.autosave.setSuffix(" s")
        self.autosave.setValue(prefs["autosave_s"])
        self.autosave.setToolTip("How long an edited image waits before it is saved (every stroke is journaled anyway)")
        self.budget = QtWidgets.QDoubleSpinBox()
        self.budget.setRange(0, 600)
        self.budget.setSuffix(" min")
        self.budget.setSpecialValueText("chosen from labels and device")
        self.budget.setValue(prefs["budget_min"])
        self.device = _combo(DEVICES, prefs["device"])
        self.paint_mode = _combo(tuple(PAINT_MODES.items()), prefs["paint_mode"])
        self.theme = _combo(THEMES, prefs["theme"])
        self.colors: dict[str, QtWidgets.QPushButton] = {}
        for key in ("fp_color", "fn_color"):
            b = QtWidgets.QPushButton(prefs[key])
            b.setObjectName(key)
            b.setStyleSheet(f"background: {prefs[key]};")
            b.clicked.connect(lambda _=False, k=key: self._pick(k))
            self.colors[key] = b
        form.addRow("Autosave after", self.autosave)
        form.addRow("Training budget", self.budget)
        form.addRow("Training device", self.device)
        form.addRow("Paint mode at start", self.paint_mode)
        form.addRow("Theme", self.theme)
        form.addRow("Error view: predicted, not in mask", self.colors["fp_color"])
        form.addRow("Error view: in mask, missed", self.colors["fn_color"])
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Ok
                                             | QtWidgets.QDialogButtonBox.StandardButton.Cancel
                                             | QtWidgets.QDialogButtonBox.StandardButton.RestoreDefaults)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        buttons.button(QtWidgets.QDialogButtonBox.StandardButton.RestoreDefaults).clicked.connect(
            lambda: self.show_values(DEFAULTS))
        form.addRow(buttons)

    def show_values(self, prefs: dict[str, Any]) -> None:
        self.autosave.setValue(prefs["autosave_s"])
        self.budget.setValue(prefs["budget_min"])
        for combo, key in ((self.device, "device"), (self.paint_mode, "paint_mode"), (self.theme, "theme")):
            combo.setCurrentIndex(max(combo.findData(prefs[key]), 0))
        for key, b in self.colors.items():
            b.setText(prefs[key])
            b.setStyleSheet(f"background: {prefs[key]};")

    def values(self) -> dict[str, Any]:
        return {"autosave_s": self.autosave.value(), "budget_min": self.budget.value(),
                "device": self.device.currentData(), "paint_mode": self.paint_mode.currentData(),
                "theme": self.theme.currentData(), **{k: b.text() for k, b in self.colors.items()}}

    def _pick(self, key: str) -> None:
        color = QtWidgets.QColorDialog.getColor(QtGui.QColor(self.colors[key].text()), self, "Colour")
        if color.isValid():
            self.colors[key].setText(color.name().upper())
            self.colors[key].setStyleSheet(f"background: {color.name()};")


def _combo(choices, value: str) -> QtWidgets.QComboBox:
    combo = QtWidgets.QComboBox()
    for key, text in choices:
        combo.addItem(text, key)
    combo.setCurrentIndex(max(combo.findData(value), 0))
    return combo


def edit_preferences(window) -> bool:
    """Show the dialog; on OK store and apply. Returns True when the user accepted."""
    dialog = PreferencesDialog(current(), window)
    if dialog.exec() != QtWidgets.QDialog.DialogCode.Accepted:
        return False
    preferences.put("editor", dialog.values())
    apply(window, current(), theme=True)
    return True
