"""Live training curves (train loss, validation Dice, learning rate) and the preview quartet.

Only displays what the training events deliver; points are appended, never recomputed, and
repainting is throttled so a fast loop cannot flood the UI thread.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

PREVIEW_TITLES = {"input_masked": "masked input", "input_perturbed": "perturbed input", "target_full": "target",
                  "recon_pred": "reconstruction", "abs_error": "abs error", "image": "image", "target": "target",
                  "prediction": "prediction"}


class CurvesWidget(pg.GraphicsLayoutWidget):
    """Three stacked plots sharing the step axis: loss, Dice (per epoch), learning rate."""

    def __init__(self, parent: QtWidgets.QWidget | None = None, compact: bool = False):
        super().__init__(parent)
        self.setObjectName("trainingCurves")
        self.setBackground("#15191e")
        self.setMinimumHeight(130 if compact else 200)
        pen = {"loss": pg.mkPen("#56B4E9", width=1.6), "dice": pg.mkPen("#E69F00", width=2),
               "val_loss": pg.mkPen("#CC79A7", width=1.6), "lr": pg.mkPen("#009E73", width=1.4)}
        # axis labels instead of plot titles: a title row costs each plot a fifth of its height in a side panel
        self.loss_plot = self.addPlot(row=0, col=0)
        self.loss_plot.addLegend(offset=(-4, 4), labelTextSize="8pt")
        self.dice_plot = self.addPlot(row=0, col=1) if compact else self.addPlot(row=1, col=0)  # side by side
        self.lr_plot = self.addPlot(row=2, col=0)
        for plot, label in ((self.loss_plot, "loss"), (self.dice_plot, "val Dice"), (self.lr_plot, "lr")):
            plot.setLabel("left", label, **{"font-size": "8pt"})
            plot.getAxis("left").enableAutoSIPrefix(False)   # "loss (x0.001)" would not fit the narrow axis
        self.lr_plot.setVisible(not compact)   # a past run's learning rate is in its metrics.csv, rarely needed
        for p in (self.loss_plot, self.dice_plot, self.lr_plot):
            p.showGrid(x=True, y=True, alpha=0.15)
            p.getAxis("left").setWidth(42)
            p.setMenuEnabled(False)
        if not compact:
            for plot in (self.loss_plot, self.dice_plot):
                plot.hideAxis("bottom")   # the plots share the step axis: only the lowest one shows it
            for row, stretch in enumerate((3, 3, 2)):
                self.ci.layout.setRowStretchFactor(row, stretch)
        self.dice_plot.setXLink(self.loss_plot)
        self.lr_plot.setXLink(self.loss_plot)
        self.dice_plot.setYRange(0, 1, padding=0.02)
        self.curves = {
            "loss": self.loss_plot.plot(pen=pen["loss"], name="train"),
            "val_loss": self.loss_plot.plot(pen=pen["val_loss"], name="val", symbol="o", symbolSize=4,
                                            symbolBrush="#CC79A7"),
            "dice": self.dice_plot.plot(pen=pen["dice"], symbol="o", symbolSize=5, symbolBrush="#E69F00"),
            "lr": self.lr_plot.plot(pen=pen["lr"]),
        }
        self.data: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in self.curves}
        self._dirty = False
        self._timer = QtCore.QTimer(self)
        self._timer.setInterval(150)
        self._timer.timeout.connect(self._repaint)
        self._timer.start()
        self._last_step = 0

    def set_held_out(self, held_out: bool) -> None:
        """Whether the run's validation images are held out. When they train too (ADR 0015: the cross-
        validation folds measure such a model), their Dice and loss are a fit and are labelled "fit"."""
        self.dice_plot.setLabel("left", "val Dice" if held_out else "fit Dice", **{"font-size": "8pt"})
        self.dice_plot.setToolTip("" if held_out else "The validation images trained too: this curve shows how "
                                  "well the model fits them. The cross-validation folds measure it.")
        legend = self.loss_plot.legend
        for _sample, label in legend.items if legend is not None else ():
            if label.text in ("val", "val (fit)"):
                label.setText("val" if held_out else "val (fit)")

    def reset(self) -> None:
        self.set_held_out(True)
        for k in self.data:
            self.data[k] = ([], [])
            self.curves[k].setData([], [])
        self._last_step = 0
        self._dirty = False

    def sizeHint(self) -> QtCore.QSize:  # noqa: N802 (Qt API)
        """Ask for the minimum: a scrolling panel then fits its curves instead of growing past the screen."""
        return QtCore.QSize(320, self.minimumHeight())

    def show_history(self, rows: list[dict[str, float]], held_out: bool = True) -> None:
        """Draw a finished run from its epoch rows (``core.train.metrics_log``): train loss, val loss, Dice, lr;
        ``held_out`` False: its validation images trained too (``set_held_out``)."""
        self.reset()
        self.set_held_out(held_out)
        for k, row in enumerate(rows):
            step = row.get("step", float(k + 1))
            if "train_loss" in row:
                self._append("loss", step, row["train_loss"])
            if "lr" in row:
                self._append("lr", step, row["lr"])
            if "val_dice" in row:
                self._append("dice", step, row["val_dice"])
            if "val_loss" in row:
                self._append("val_loss", step, row["val_loss"])
        self._dirty = True
        self._repaint()

    def add_step(self, step: int, loss: float, lr: float) -> None:
        self._last_step = step
        self._append("loss", step, loss)
        self._append("lr", step, lr)

    def add_epoch(self, epoch: int, metrics: dict) -> None:
        step = float(metrics.get("step", self._last_step))
        if "val_dice" in metrics:
            self._append("dice", step, float(metrics["val_dice"]))
        if "val_loss" in metrics:
            self._append("val_loss", step, float(metrics["val_loss"]))

    def _append(self, key: str, x: float, y: float) -> None:
        if y is None or not np.isfinite(y):
            return
        xs, ys = self.data[key]
        xs.append(float(x))
        ys.append(float(y))
        self._dirty = True

    def _repaint(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        for k, (xs, ys) in self.data.items():
            self.curves[k].setData(xs, ys)
            if k == "lr" and ys:
                self.lr_plot.setYRange(0, max(ys) * 1.15, padding=0)

    def points(self, key: str) -> int:
        return len(self.data[key][0])


class PreviewStrip(QtWidgets.QWidget):
    """Up to four grayscale previews side by side (MIM: masked input, target, reconstruction, error)."""

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("previewStrip")
        lay = QtWidgets.QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        self.views: list[tuple[QtWidgets.QLabel, pg.ImageItem, pg.GraphicsLayoutWidget]] = []
        for _ in range(4):
            col = QtWidgets.QVBoxLayout()
            col.setSpacing(1)
            glw = pg.GraphicsLayoutWidget()
            glw.setBackground("#0e1216")
            glw.setFixedHeight(96)
            vb = glw.addViewBox(lockAspect=True, invertY=True, enableMenu=False, enableMouse=False)
            item = pg.ImageItem(axisOrder="row-major")
            vb.addItem(item)
            title = QtWidgets.QLabel("")
            title.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
            title.setStyleSheet("color: #9aa4ae; font-size: 8pt;")
            col.addWidget(glw)
            col.addWidget(title)
            lay.addLayout(col)
            self.views.append((title, item, glw))
        self.names: list[str] = []
        self.setVisible(False)

    def show_images(self, images: dict) -> None:
        self.names = list(images)[:4]
        for k, (title, item, glw) in enumerate(self.views):
            if k < len(self.names):
                name = self.names[k]
                img = np.asarray(images[name], dtype=np.float32)
                lo, hi = float(np.nanmin(img)), float(np.nanmax(img))
                item.setImage(img, levels=(lo, hi if hi > lo else lo + 1))
                short = name.split("/")[-1]
                title.setText(PREVIEW_TITLES.get(short, short))
                glw.setVisible(True)
            else:
                item.clear()
                title.setText("")
                glw.setVisible(False)
        self.setVisible(bool(self.names))
