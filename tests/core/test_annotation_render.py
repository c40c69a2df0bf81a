"""Display colouring: packed LUT gather equals plain indexing, region updates match full renders."""

import numpy as np

from core.annotation.render import (
    auto_window,
    boundary,
    class_lut,
    colorize,
    colorize_region,
    error_rgba,
    window_uint8,
)
from core.data.classes import fdi_classes
from core.data.io import read_mask


def test_colorize_and_region_updates_match_plain_indexing(shared_data):
    root = shared_data / "ufba425_teeth"
    name = sorted(p.name for p in (root / "masks").iterdir())[0]
    labels = read_mask(root / "masks" / name)
    lut = class_lut(fdi_classes(), hidden=[11])
    full = colorize(labels, lut)
    assert np.array_equal(full, lut[labels])
    assert full[labels == 11, 3].max() == 0 and full[labels == 21, 3].min() == 255
    edited = labels.copy()
    edited[100:140, 200:260] = 21
    for contour in (False, True):
        buf = colorize(labels, lut, contour)
        colorize_region(edited, lut, buf, (100, 140, 200, 260), contour)
        assert np.array_equal(buf, colorize(edited, lut, contour))
    outline = colorize(labels, lut, True)
    assert np.array_equal(outline[..., 3] > 0, boundary(labels) & (lut[labels][..., 3] > 0))


def test_error_map_and_windowing():
    mask = np.zeros((10, 10), np.uint8)
    mask[2:6, 2:6] = 1
    pred = np.roll(mask, 2, axis=1)
    err = error_rgba(mask, pred)
    assert (err[..., 3] > 0).sum() == 16                       # 8 false positives + 8 false negatives
    img16 = (np.arange(100, dtype=np.uint16).reshape(10, 10) * 600)
    lo, hi = auto_window(img16)
    shown = window_uint8(img16, (lo, hi))
    assert shown.dtype == np.uint8 and shown.min() == 0 and shown.max() == 255
    assert auto_window(np.zeros((4, 4), np.uint8)) == (0.0, 255.0)
