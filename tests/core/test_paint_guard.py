"""Paint modes, locked and hidden classes, and the fill limit on a real FDI panoramic mask."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from core.annotation.editor import MaskEditor
from core.annotation.paint_guard import FillTooLarge, PaintGuard, ProtectedClass


@pytest.fixture
def teeth(shared_data):
    root = shared_data / "ufba425_teeth"
    labels = cv2.imread(str(root / "masks" / "cate1-00002.png"), cv2.IMREAD_UNCHANGED)
    image = cv2.imread(str(root / "images" / "cate1-00002.jpg"), cv2.IMREAD_GRAYSCALE)
    return labels, image


def centre(labels: np.ndarray, value: int) -> tuple[float, float]:
    ys, xs = np.nonzero(labels == value)
    return float(xs.mean()), float(ys.mean())


def stroke_over(ed: MaskEditor, a: tuple[float, float], b: tuple[float, float], value: int) -> None:
    ed.begin_stroke()
    ed.paint_segment(a, b, 10, value)
    ed.end_stroke()


def test_modes_keep_other_classes(teeth):
    labels, image = teeth
    a, b = centre(labels, 11), centre(labels, 12)                   # a drag from tooth 11 across 12
    for mode, keeps_12 in (("all", False), ("empty", True), ("others", True)):
        ed = MaskEditor(labels.copy(), image)
        ed.guard = PaintGuard(mode)
        stroke_over(ed, a, b, 11)
        kept = np.count_nonzero((labels == 12) & (ed.labels == 12))
        assert (kept == np.count_nonzero(labels == 12)) == keeps_12, mode
        assert np.count_nonzero(ed.labels == 11) > np.count_nonzero(labels == 11)   # background got painted
    ed = MaskEditor(labels.copy(), image)                          # eraser in "others" erases only the active class
    ed.guard = PaintGuard("others", active=11)
    stroke_over(ed, a, b, 0)
    assert np.array_equal(ed.labels == 12, labels == 12) and np.count_nonzero(ed.labels == 11) < np.count_nonzero(labels == 11)


def test_locked_and_hidden_classes_are_never_changed(teeth):
    labels, image = teeth
    ed = MaskEditor(labels.copy(), image)
    ed.guard = PaintGuard("all", locked=frozenset({12, 21}))
    stroke_over(ed, centre(labels, 11), centre(labels, 12), 11)
    stroke_over(ed, centre(labels, 21), centre(labels, 11), 0)      # eraser across a locked tooth
    assert np.array_equal(ed.labels == 12, labels == 12) and np.array_equal(ed.labels == 21, labels == 21)
    with pytest.raises(ProtectedClass):
        ed.paint_segment((5, 5), (9, 9), 4, 12)
    pred = np.where(labels > 0, 33, 0).astype(np.uint8)            # a prediction that renumbers everything
    ed.accept_prediction(pred)
    assert np.array_equal(ed.labels == 12, labels == 12) and (ed.labels[labels == 13] == 33).all()
    speck = labels.copy()
    speck[2:5, 2:5] = 12                                            # a locked speck survives island removal
    ed = MaskEditor(speck, image)
    ed.guard = PaintGuard(locked=frozenset({12}))
    ed.remove_small_islands(64)
    assert (ed.labels[2:5, 2:5] == 12).all()


def test_fill_limit_changes_nothing_until_confirmed(teeth):
    labels, image = teeth
    ed = MaskEditor(labels.copy(), image)
    with pytest.raises(FillTooLarge) as err:
        ed.flood_fill(2, 2, 5, max_fraction=0.25)                  # the background is most of the image
    assert err.value.fraction > 0.5 and np.array_equal(ed.labels, labels) and ed.history.undo_steps == 0
    x, y = centre(labels, 36)
    box, rec = ed.flood_fill(x, y, 37, max_fraction=0.25)          # one tooth is small: no question
    assert rec is not None and (ed.labels[labels == 36] == 37).all()
    box, rec = ed.flood_fill(2, 2, 5)                               # confirmed: no limit
    assert (ed.labels[labels == 0] == 5).any()
