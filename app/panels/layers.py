"""View dock: per-layer visibility and opacity, fill or contour, window/level, and tool sizes."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from app.canvas.view import LAYERS, OVERLAY
from app.panels.dock import PanelDock
from core.annotation.paint_guard import PAINT_MODES

DEFAULT_OPACITY = {"image": 1.0, "mask": 0.5, "prediction": 0.9, "errors": 0.7, OVERLAY: 0.85}
LAYER_TITLES = {"image": "Image", "mask": "Mask", "prediction": "Prediction", "errors": "Errors (FP / FN)",
                OVERLAY: "Overlay model"}


class LayersPanel(PanelDock):
    visibility_changed = QtCore.Signal(str, bool)
    opacity_changed = QtCore.Signal(str, float)
    contour_changed = QtCore.Signal(bool)
    window_changed = QtCore.Signal(float, float)
    auto_window_requested = QtCore.Signal()
    radius_changed = QtCore.Signal(float)
    tolerance_changed = QtCore.Signal(float)
    island_changed = QtCore.Signal(int)
    paint_mode_changed = QtCore.Signal(str)

    def __init__(self, parent=None):
        super().__init__("View && tools", "layersDock", parent)
        lay = self.body_layout
        box = QtWidgets.QGroupBox("Layers")
        grid = QtWidgets.QGridLayout(box)
        self.visible: dict[str, QtWidgets.QCheckBox] = {}
        self.opacity: dict[str, QtWidgets.QSlider] = {}
        for r, name in enumerate((*LAYERS, OVERLAY)):
            check = QtWidgets.QCheckBox(LAYER_TITLES[name])
            check.setChecked(name != "errors")
            if name == "errors":
                check.setToolTip("Vermillion: predicted but not in the mask (false positive). "
                                 "Blue: in the mask but missed by the prediction (false negative).")
            if name == OVERLAY:
                check.setToolTip("A second model's output (e.g. caries) above the teeth: Models > Show as overlay")
            check.toggled.connect(lambda on, n=name: self.visibility_changed.emit(n, on))
            slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
            slider.setRange(0, 100)
            slider.setValue(int(DEFAULT_OPACITY[name] * 100))
            slider.setToolTip(f"{LAYER_TITLES[name]} opacity")
            slider.valueChanged.connect(lambda v, n=name: self.opacity_changed.emit(n, v / 100.0))
            grid.addWidget(check, r, 0)
            grid.addWidget(slider, r, 1)
            self.visible[name], self.opacity[name] = check, slider
        self.contour = QtWidgets.QCheckBox("Outline masks (contour mode)")
        self.contour.toggled.connect(self.contour_changed)
        grid.addWidget(self.contour, len(LAYERS) + 1, 0, 1, 2)
        lay.addWidget(box)

        wbox = QtWidgets.QGroupBox("Window / level")
        wl = QtWidgets.QHBoxLayout(wbox)
        self.low, self.high = QtWidgets.QDoubleSpinBox(), QtWidgets.QDoubleSpinBox()
        for spin in (self.low, self.high):
            spin.setRange(-1e6, 1e6)
            spin.setDecimals(1)
            spin.setKeyboardTracking(False)
            spin.valueChanged.connect(lambda *_: self.window_changed.emit(self.low.value(), self.high.value()))
        self.auto = QtWidgets.QPushButton("Auto")
        self.auto.clicked.connect(self.auto_window_requested)
        for w in (QtWidgets.QLabel("low"), self.low, QtWidgets.QLabel("high"), self.high, self.auto):
            wl.addWidget(w)
        lay.addWidget(wbox)

        tbox = QtWidgets.QGroupBox("Tools")
        form = QtWidgets.QFormLayout(tbox)
        self.radius = QtWidgets.QDoubleSpinBox()
        self.radius.setRange(1, 400)
        self.radius.setDecimals(1)
        self.radius.setSuffix(" px")
        self.radius.valueChanged.connect(self.radius_changed)
        self.tolerance = QtWidgets.QSpinBox()
        self.tolerance.setRange(0, 50)
        self.tolerance.setSuffix(" %")
        self.tolerance.valueChanged.connect(lambda v: self.tolerance_changed.emit(v / 100.0))
        self.islands = QtWidgets.QSpinBox()
        self.islands.setRange(1, 1_000_000)
        self.islands.setSuffix(" px")
        self.islands.valueChanged.connect(self.island_changed)
        self.paint_mode = QtWidgets.QComboBox()
        self.paint_mode.setObjectName("paintMode")
        for key, text in (("all", "Overwrite all"), ("empty", "Only empty pixels"),
                          ("others", "Keep other classes")):
            self.paint_mode.addItem(text, key)
            self.paint_mode.setItemData(self.paint_mode.count() - 1, PAINT_MODES[key], QtCore.Qt.ItemDataRole.ToolTipRole)
        self.paint_mode.setToolTip("What brush, fill and polygon may paint over (locked and hidden classes: never)")
        self.paint_mode.currentIndexChanged.connect(lambda _i: self.paint_mode_changed.emit(self.paint_mode.currentData()))
        form.addRow("Paint mode", self.paint_mode)
        form.addRow("Brush radius  [ ]  Ctrl+wheel", self.radius)
        form.addRow("Threshold tolerance", self.tolerance)
        form.addRow("Smallest island kept", self.islands)
        lay.addWidget(tbox)
        lay.addStretch(1)

    def show_window(self, low: float, high: float) -> None:
        for spin, v in ((self.low, low), (self.high, high)):
            spin.blockSignals(True)
            spin.setValue(v)
            spin.blockSignals(False)

    def show_tool_settings(self, radius: float, tolerance: float, islands: int) -> None:
        for spin, v in ((self.radius, radius), (self.tolerance, int(round(tolerance * 100))), (self.islands, islands)):
            spin.blockSignals(True)
            spin.setValue(v)
            spin.blockSignals(False)

    def set_layer_checked(self, name: str, on: bool) -> None:
        self.visible[name].setChecked(on)

    def name_overlay(self, model: str = "") -> None:
        """The overlay layer's switch names the model drawn in it ("": none)."""
        self.visible[OVERLAY].setText(f"Overlay: {model}" if model else LAYER_TITLES[OVERLAY])
