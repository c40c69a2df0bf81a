"""Everything the canvas shows for one image, computed in one go so a worker thread can do it.

Windowing a 16-bit image and colouring a 2943x1435 label map cost tens of milliseconds each; the GUI
prepares a ``Frame`` off the UI thread and then only hands its arrays to the layers (numpy only).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.annotation import render


@dataclass
class Frame:
    image: np.ndarray                  # the raw image (for hover values and re-windowing)
    window: tuple[float, float]
    display: np.ndarray                # the windowed uint8 image layer
    labels: np.ndarray                 # the label map the mask layer shows (the editor's array)
    mask_rgba: np.ndarray
    lut: np.ndarray                    # colours and contour flag the RGBA buffers were made with
    contour: bool
    prediction: np.ndarray | None      # label map (probabilities already thresholded)
    prediction_rgba: np.ndarray | None
    errors_rgba: np.ndarray | None
    prediction_source: np.ndarray | None = None   # the array the prediction came from

    def matches(self, lut: np.ndarray, contour: bool) -> bool:
        """True while the colours it was made with are still the canvas's."""
        return self.contour == bool(contour) and np.array_equal(self.lut, lut)


def first_class(lut: np.ndarray) -> int:
    """The first visible class value of a LUT (where probabilities are drawn), else 1."""
    nonzero = np.flatnonzero(lut[1:, 3]) + 1
    return int(nonzero[0]) if nonzero.size else 1


def prediction_labels(prediction: np.ndarray | None, lut: np.ndarray) -> np.ndarray | None:
    """A label map for a prediction: probabilities in [0, 1] are thresholded at 0.5 onto the first class."""
    if prediction is not None and np.issubdtype(prediction.dtype, np.floating):
        return (prediction >= 0.5).astype(np.uint8) * np.uint8(first_class(lut))
    return prediction


def errors_rgba(labels: np.ndarray | None, prediction: np.ndarray | None) -> np.ndarray | None:
    if prediction is None or labels is None or prediction.shape != labels.shape:
        return None
    return render.error_rgba(labels, prediction)


def prepare(image: np.ndarray, labels: np.ndarray, lut: np.ndarray, contour: bool = False,
            prediction: np.ndarray | None = None, window: tuple[float, float] | None = None) -> Frame:
    """Window the image, colour the mask and the prediction, and compute the error map."""
    window = window or render.auto_window(image)
    pred = prediction_labels(prediction, lut)
    pred_rgba = None if pred is None else render.colorize(pred.astype(np.uint8), lut, True)
    return Frame(image=image, window=(float(window[0]), float(window[1])),
                 display=render.window_uint8(image, window), labels=labels,
                 mask_rgba=render.colorize(labels, lut, contour), lut=lut.copy(), contour=bool(contour),
                 prediction=pred, prediction_rgba=pred_rgba, errors_rgba=errors_rgba(labels, pred),
                 prediction_source=prediction)


@dataclass
class PredictionLayers:
    """A prediction's label map, outline colours and error map, made in the worker that predicted it."""

    source: np.ndarray                 # the prediction as returned (mask or probabilities)
    prediction: np.ndarray
    rgba: np.ndarray
    errors_rgba: np.ndarray | None
    lut: np.ndarray
    labels: np.ndarray | None          # the label map the errors were computed against


def prediction_layers(prediction: np.ndarray, lut: np.ndarray, labels: np.ndarray | None) -> PredictionLayers:
    """Colour a fresh prediction (outlines) and its errors against ``labels`` off the UI thread."""
    pred = prediction_labels(prediction, lut)
    return PredictionLayers(source=prediction, prediction=pred, rgba=render.colorize(pred.astype(np.uint8), lut, True),
                            errors_rgba=errors_rgba(labels, pred), lut=lut.copy(), labels=labels)
