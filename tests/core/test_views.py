"""Fixed views of a label for the frozen-encoder head (ADR 0015, seventh addendum): deterministic (the embedding
store finds them by their bytes), geometric views move the mask with the image, and training draws only the
views whose embeddings are ready."""

from __future__ import annotations

import numpy as np
import pytest

from core.train.transforms import flip_transform
from core.train.views import VIEWS, ViewTransform, image_key, make_view, view_names
from tests.core.test_train_support import thyroid_frame


@pytest.fixture(scope="module")
def frame(shared_data):
    image, mask = thyroid_frame(shared_data, 40)
    return image, mask.astype(np.int64)


def test_every_view_is_deterministic_and_keeps_size_range_and_dtypes(frame):
    image, mask = frame
    assert view_names(3) == list(VIEWS)[:3] and len(view_names(99)) == len(VIEWS) == 8
    for name in VIEWS:
        a, m = make_view(name, image, mask)
        b, _ = make_view(name, image, mask)
        assert a.tobytes() == b.tobytes(), name       # the same bytes: the same embedding key
        assert a.shape == image.shape and a.dtype == np.float32 and m.dtype == mask.dtype and m.shape == mask.shape
        assert 0 <= a.min() and a.max() <= 1
        assert not np.array_equal(a, image), name


def test_geometric_views_move_the_mask_with_the_image(frame):
    image, mask = frame
    area = mask.sum()
    down, moved = make_view("shift down", image, mask)
    by = round(image.shape[0] * 24 / 256)
    assert np.array_equal(down, np.roll(image, by, 0)) and np.array_equal(moved, np.roll(mask, by, 0))
    _, zin = make_view("zoom in", image, mask)
    _, zout = make_view("zoom out", image, mask)
    assert zin.sum() > 1.3 * area and zout.sum() < 0.75 * area        # 1/0.8^2 and 1/1.25^2 of the area
    h, w = image.shape
    assert zout[: h // 20].sum() == 0 and zout[:, : w // 20].sum() == 0   # the mirrored border is background
    gamma, same = make_view("gamma 1.4", image, mask)
    assert np.array_equal(same, mask) and gamma.mean() < image.mean()


def test_training_draws_only_ready_views_at_the_given_share(frame):
    image, mask = frame
    size = image.shape
    base = flip_transform(size, seed=0)
    base.transforms[1].p = 0.0   # no flips: compare pixels
    zoomed = make_view("zoom in", image, mask)[0]
    ready = {image_key(image): ["zoom in"]}
    always = ViewTransform(base, ready, share=1.0, seed=0)
    assert np.allclose(always(image=image, mask=mask)["image"], zoomed)
    other = np.ascontiguousarray(image[::-1])                       # an image without ready views: itself
    assert np.allclose(always(image=other, mask=mask)["image"], other)
    half = ViewTransform(base, ready, share=0.5, seed=1)
    drawn = [np.allclose(half(image=image, mask=mask)["image"], zoomed) for _ in range(200)]
    assert 70 < sum(drawn) < 130
    half.set_random_seed(1)
    assert [np.allclose(half(image=image, mask=mask)["image"], zoomed) for _ in range(200)] == drawn
