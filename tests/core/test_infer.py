"""Inference: post-processing rules on real masks, predictors, sliding windows, predict_folder."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.data.io import read_mask
from core.infer.postprocess import mask_stats, postprocess_binary


@pytest.fixture(scope="module")
def thyroid_mask(shared_data) -> np.ndarray:
    masks = sorted((shared_data / "tg3k_thyroid").rglob("*.jpg"))
    masks = [m for m in masks if "mask" in str(m).lower()]
    for path in masks:
        mask = read_mask(path)
        if 0.02 < mask.mean() < 0.3:
            return mask
    pytest.fail("no usable tg3k mask found")


def test_postprocess_drops_specks_and_out_of_band_blobs(thyroid_mask):
    h, w = thyroid_mask.shape
    noisy = thyroid_mask.copy()
    noisy[2:4, 2:4] = 1  # a speck below the minimum area
    stats = mask_stats(thyroid_mask)
    prob = noisy.astype(np.float32) * 0.9
    cleaned = postprocess_binary(prob, band=None, min_area_frac=0.001)
    assert cleaned.dtype == np.uint8 and set(np.unique(cleaned)) <= {0, 1}
    assert cleaned[2:4, 2:4].sum() == 0
    assert np.array_equal(cleaned, postprocess_binary(thyroid_mask, min_area_frac=0.001))
    cy = stats["cy_rel"]
    # a band that excludes the structure: nothing passes, so the largest component is kept (fallback)
    band = (0.0, max(cy - 0.3, 0.01)) if cy > 0.5 else (min(cy + 0.3, 0.99), 1.0)
    fallback = postprocess_binary(noisy, band=band, min_area_frac=0.001)
    assert fallback.sum() >= 0.5 * thyroid_mask.sum() and fallback[2:4, 2:4].sum() == 0
    assert postprocess_binary(np.zeros((h, w), np.float32)).sum() == 0


def test_postprocess_band_keeps_only_components_inside(thyroid_mask):
    h, w = thyroid_mask.shape
    two = np.zeros((h, w), np.uint8)
    two[10:30, 10:40] = 1  # top blob
    two[h - 40:h - 10, w - 50:w - 10] = 1  # bottom blob, larger
    top_only = postprocess_binary(two, band=(0.0, 0.4), min_area_frac=0.001)
    assert top_only[10:30, 10:40].all() and top_only[h - 40:, :].sum() == 0


def test_mask_stats_on_real_mask(thyroid_mask):
    stats = mask_stats(thyroid_mask, band=(0.0, 1.0))
    ys, xs = np.nonzero(thyroid_mask)
    assert stats["area_frac"] == pytest.approx(thyroid_mask.mean())
    assert stats["cy_rel"] == pytest.approx(ys.mean() / (thyroid_mask.shape[0] - 1))
    assert stats["cx_rel"] == pytest.approx(xs.mean() / (thyroid_mask.shape[1] - 1))
    assert stats["plausible"] is True
    assert mask_stats(thyroid_mask, band=(0.99, 1.0))["plausible"] is False
    empty = mask_stats(np.zeros_like(thyroid_mask))
    assert empty["area_frac"] == 0 and math.isnan(empty["cy_rel"]) and empty["plausible"] is False
