"""Zoom augmentation (recipe ``zoom``): structures appear at other scales and places, masks stay aligned."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.errors import ToothSegError
from core.train.recipe import default_recipe
from core.train.transforms import TwoViews, train_transform
from tests.core.test_train_support import make_subset, thyroid_frame
from training.cli import main


@pytest.fixture(scope="module")
def frame(shared_data):
    image, mask = thyroid_frame(shared_data, 100)
    return image, mask.astype(np.uint8)


def _areas(transform, image, mask, n=40):
    return np.array([transform(image=image, mask=mask)["mask"].mean() for _ in range(n)])


def test_zoom_changes_the_scale_of_the_gland_and_keeps_image_and_mask_aligned(frame):
    image, mask = frame
    plain = _areas(train_transform(128, seed=0), image, mask)
    zoomed = _areas(train_transform(128, seed=0, zoom=0.3), image, mask)
    # flip and ±5° rotation barely change the gland's share of the frame; a ±30 % zoom changes it by up to ~70 %
    assert plain.max() / plain.min() < 1.15
    assert zoomed.max() / zoomed.min() > 1.4
    out = train_transform(128, seed=3, zoom=0.3)(image=image, mask=mask)
    inside = out["image"][out["mask"] > 0].mean()
    outside = out["image"][out["mask"] == 0].mean()
    plain_in, plain_out = image[mask > 0].mean(), image[mask == 0].mean()
    assert np.sign(inside - outside) == np.sign(plain_in - plain_out)  # the mask still sits on the gland


def test_mean_teacher_views_share_the_zoom(frame):
    image, mask = frame
    views = TwoViews(96, seed=1, zoom=0.3)
    weak, strong, replay = views(image)
    moved = views.same_geometry(replay, mask)
    assert weak.shape == strong.shape == moved.shape == (96, 96)
    again = views.same_geometry(replay, mask)
    assert np.array_equal(moved, again)


def test_zoom_is_validated_and_reaches_the_checkpoint_from_the_cli(shared_data, tmp_path, capsys):
    with pytest.raises(ToothSegError, match="zoom"):
        default_recipe("finetune").updated(zoom=0.7)
    data = make_subset(shared_data / "tg3k_thyroid", tmp_path / "thy", 10)
    run = tmp_path / "run"
    assert main(["finetune", "--data", str(data), "--out", str(run), "--arch", "unet", "--base-channels", "4",
                 "--size", "32", "--epochs", "1", "--batch-size", "3", "--zoom", "0.2", "--json"]) == 0
    capsys.readouterr()
    assert json.loads((run / "best.json").read_text())["recipe"]["zoom"] == 0.2
