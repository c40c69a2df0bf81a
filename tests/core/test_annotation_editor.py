"""Editor operations and the bbox-only undo history on real masks from /work/shared/data."""

from __future__ import annotations

import numpy as np
import pytest

from core.annotation.editor import MaskEditor
from core.annotation.history import History
from core.data.io import read_image, read_mask


@pytest.fixture
def caries(shared_data):
    root = shared_data / "mlua_panoramic_caries"
    name = sorted(p.name for p in (root / "images").iterdir())[0]
    return read_image(root / "images" / name), read_mask(root / "masks" / name)


def test_stroke_is_one_record_holding_only_its_bounding_box(caries):
    image, mask = caries
    ed = MaskEditor(mask.copy(), image)
    before = ed.labels.copy()
    ed.begin_stroke()
    for i in range(20):  # a 20-segment drag
        ed.paint_segment((500 + 10 * i, 700), (510 + 10 * i, 705), 8, 1)
    rec = ed.end_stroke()
    assert ed.history.undo_steps == 1
    h, w = rec.old.shape
    assert h <= 2 * 8 + 6 + 2 and w <= 200 + 2 * 8 + 2            # the drag's box, not the image
    assert rec.nbytes == 2 * h * w and rec.nbytes < mask.nbytes / 100
    assert (ed.labels != before).sum() > 0
    ed.undo()
    assert np.array_equal(ed.labels, before)
    ed.redo()
    assert ed.labels[702, 600] == 1


def test_history_keeps_100_steps_and_byte_cap_evicts_oldest():
    labels = np.zeros((300, 300), np.uint8)
    ed = MaskEditor(labels, history=History(max_bytes=10**9))
    for i in range(120):
        ed.paint_segment((i * 2 + 5, 50), (i * 2 + 5, 50), 3, 1 + i % 5)
    assert ed.history.undo_steps == 120
    for _ in range(120):
        assert ed.undo() is not None
    assert not ed.labels.any()
    small = History(max_bytes=400)
    ed = MaskEditor(np.zeros((100, 100), np.uint8), history=small)
    for i in range(10):
        ed.paint_segment((10 * i + 5, 50), (10 * i + 5, 50), 3, 1)     # 7x7 box: 98 bytes per record
    assert small.undo_steps == 4 and small.nbytes <= 400
    while ed.undo():
        pass
    assert ed.labels[50, 5] == 1 and ed.labels[50, 95] == 0           # the oldest strokes were evicted


def test_eraser_flood_fill_polygon_islands_threshold(caries):
    image, mask = caries
    ed = MaskEditor(np.zeros_like(mask), image)
    ed.paint_segment((100, 100), (300, 100), 20, 2)
    ed.paint_segment((200, 100), (200, 100), 5, 0)                    # eraser dab
    assert ed.labels[100, 200] == 0 and ed.labels[100, 150] == 2
    box, rec = ed.fill_polygon([(400, 400), (600, 400), (600, 600), (400, 600)], 3)
    assert box == (400, 601, 400, 601) and ed.labels[500, 500] == 3 and rec is not None
    ed.paint_segment((500, 500), (500, 500), 10, 0)                   # hole in the square
    box, rec = ed.flood_fill(500, 500, 4)
    assert ed.labels[500, 500] == 4 and ed.labels[420, 420] == 3
    assert box[1] - box[0] <= 22                                       # only the hole was filled
    ed.labels[1000, 1000] = 5                                          # a stray click
    ed.remove_small_islands(16)
    assert ed.labels[1000, 1000] == 0 and ed.labels[100, 150] == 2
    lo, hi = ed.threshold_range(1500, 700, 15, tolerance=0.0)
    ed.begin_stroke("threshold")
    ed.paint_segment((1400, 700), (1600, 700), 40, 6, (lo, hi))
    ed.end_stroke()
    painted = ed.labels == 6
    assert painted.any()
    assert image[painted].min() >= lo and image[painted].max() <= hi
    region = image[660:741, 1360:1641]
    assert painted.sum() < (region >= 0).sum() * 0.95                # some pixels were out of range


def test_accept_prediction_all_or_inside_lasso(caries):
    image, mask = caries
    ed = MaskEditor(np.zeros_like(mask), image)
    ed.accept_prediction(mask, [(0, 0), (1400, 0), (1400, 1435), (0, 1435)])
    assert np.array_equal(ed.labels[:, :1390] > 0, mask[:, :1390] > 0)
    assert not ed.labels[:, 1500:].any()
    ed.accept_prediction(mask)
    assert np.array_equal(ed.labels, mask)
    ed.undo()
    ed.undo()
    assert not ed.labels.any()
