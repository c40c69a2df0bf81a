"""The training building blocks: block masks, losses, views, crops, preprocessing, recipes, freezing."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from core.errors import ToothSegError
from core.models.registry import build_model
from core.preprocess import bilateral
from core.train.common import encoder_stages, freeze_early_blocks
from core.train.data import fingerprint, open_dataset
from core.train.events import RecordingEvents
from core.train.loop import run_training
from core.train.losses import consistency_mse, masked_l1, seg_loss, sigmoid_rampup
from core.train.masking import block_mask
from core.train.recipe import MODES, default_recipe, load_recipe
from core.train.transforms import TwoViews, train_transform
from tests.core.test_train_support import make_subset, tiny


def test_block_masks_follow_the_seed_and_the_target_ratio():
    g = torch.Generator().manual_seed(0)
    fractions = [float(block_mask(64, 64, 8, (0.1, 0.3), generator=g).mean()) for _ in range(20)]
    assert 0.02 < np.mean(fractions) < 0.5
    dense = block_mask(64, 64, 8, (0.1, 0.3), ratio=0.6, generator=g)
    assert float(dense.mean()) >= 0.6
    assert set(torch.unique(dense).tolist()) <= {0.0, 1.0}


def test_masked_l1_counts_only_hidden_pixels_and_falls_back_when_nothing_is_hidden():
    target = torch.zeros(1, 1, 4, 4)
    pred = torch.zeros(1, 1, 4, 4)
    pred[..., 0, :] = 1.0  # wrong only on the first row
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., 2:, :] = 1.0  # but only the bottom rows are hidden
    assert float(masked_l1(pred, target, mask)) == 0.0
    assert float(masked_l1(pred, target, torch.zeros_like(mask))) == pytest.approx(0.25)


def test_seg_loss_is_lower_for_the_right_answer_binary_and_multiclass():
    target = torch.zeros(2, 8, 8, dtype=torch.long)
    target[:, 2:6, 2:6] = 1
    good = (target.float() * 20 - 10)[:, None]
    assert float(seg_loss(good, target)) < float(seg_loss(-good, target))
    target3 = target.clone()
    target3[:, 0, :] = 2
    good3 = torch.nn.functional.one_hot(target3, 3).permute(0, 3, 1, 2).float() * 10
    assert float(seg_loss(good3, target3)) < float(seg_loss(good3.flip(1), target3))


def test_consistency_gives_no_gradient_to_the_teacher_and_ramps_up():
    s = torch.zeros(1, 1, 4, 4, requires_grad=True)
    t = torch.ones(1, 1, 4, 4, requires_grad=True)
    consistency_mse(s, t).backward()
    assert s.grad is not None and t.grad is None
    assert sigmoid_rampup(0, 5) == pytest.approx(np.exp(-5))
    assert sigmoid_rampup(5, 5) == 1.0 and sigmoid_rampup(2.5, 5) < 1.0


def test_weak_and_strong_views_share_their_geometry():
    mask = np.zeros((64, 64), np.uint8)
    mask[10:30, 5:20] = 1  # off-centre, so a flip or rotation shows
    image = mask.astype(np.float32) * 0.8 + 0.1
    views = TwoViews(64, seed=0)
    for _ in range(10):
        weak, strong, replay = views(image)
        moved = TwoViews.same_geometry(replay, mask) > 0
        for view in (weak, strong):
            bright = view > 0.5
            iou = (bright & moved).sum() / max((bright | moved).sum(), 1)
            assert iou > 0.8


def test_foreground_aware_crops_contain_the_structure():
    mask = np.zeros((128, 128), np.uint8)
    mask[100:110, 100:110] = 1
    image = np.random.default_rng(0).random((128, 128)).astype(np.float32)
    transform = train_transform(128, augment=False, crop=32, seed=0)
    hits = [transform(image=image, mask=mask)["mask"].any() for _ in range(10)]
    out = transform(image=image, mask=mask)
    assert out["image"].shape == (32, 32) and all(hits)


def test_bilateral_preprocessing_smooths_noise_but_keeps_edges():
    rng = np.random.default_rng(0)
    img = np.zeros((64, 64), np.float32)
    img[:, 32:] = 1.0
    noisy = np.clip(img + rng.normal(0, 0.03, img.shape), 0, 1).astype(np.float32)
    out = bilateral(noisy)
    assert out[:, :28].std() < noisy[:, :28].std()
    assert out[:, 36:].mean() - out[:, :28].mean() > 0.9


def test_fingerprint_changes_when_a_mask_changes(shared_data, tmp_path):
    data = make_subset(shared_data / "tg3k_thyroid", tmp_path, 4)
    samples = open_dataset(data).index.labeled()
    before = fingerprint(samples)
    assert fingerprint(list(reversed(samples))) == before
    st = samples[0].mask.stat()
    os.utime(samples[0].mask, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert fingerprint(samples) != before


def test_default_recipes_load_and_recipe_files_override_them(tmp_path):
    for mode in MODES:
        recipe = default_recipe(mode)
        assert recipe.mode == mode and recipe.to_json()["mode"] == mode
    assert default_recipe("pseudo-label").model["name"] == "small_unet"
    ft = default_recipe("finetune")
    assert (ft.lr, ft.weight_decay, ft.plateau_factor, ft.plateau_patience, ft.min_lr) == (1e-3, 1e-4, 0.5, 10, 1e-6)
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"epochs": 3, "size": 96}))
    recipe = load_recipe(path, "finetune")
    assert (recipe.epochs, recipe.size, recipe.lr) == (3, 96, 1e-3)
    path.write_text("[1, 2]")
    with pytest.raises(ToothSegError, match="JSON object"):
        load_recipe(path, "finetune")


def test_freezing_early_encoder_blocks():
    model = build_model({"name": "unet", "in_channels": 1, "out_channels": 1, "base_channels": 4})
    stages = encoder_stages(model)
    assert len(stages) == 5  # inc + 4 downs
    frozen = freeze_early_blocks(model, 2)
    assert frozen > 0
    assert not any(p.requires_grad for s in stages[:2] for p in s.parameters())
    assert all(p.requires_grad for s in stages[2:] for p in s.parameters())


def test_mean_teacher_with_frozen_blocks_leaves_them_untouched(shared_data, tmp_path):
    data = make_subset(shared_data / "tg3k_thyroid", tmp_path / "d", 12, n_unlabeled=4)
    run_training(tiny("finetune", epochs=1), data, tmp_path / "sup")
    events, calls = RecordingEvents(), []
    run_training(tiny("mean-teacher", epochs=1, freeze_blocks=1, init=str(tmp_path / "sup" / "best.json")),
                 data, tmp_path / "mt", events=events, progress=lambda d, t, m: calls.append((d, t)))
    from core.models.checkpoint import read_weights

    sup, mt = read_weights(tmp_path / "sup" / "best"), read_weights(tmp_path / "mt" / "best")
    first = [k for k in sup if k.startswith("encoder.inc") and k.endswith("weight")]
    later = [k for k in sup if k.startswith("encoder.downs.3") and k.endswith("weight")]
    assert all(torch.equal(sup[k], mt[k]) for k in first)
    assert any(not torch.equal(sup[k], mt[k]) for k in later)
    assert events.info["frozen_tensors"] > 0
    assert calls[0][0] == 0 and calls[-1][0] == calls[-1][1] == events.total_steps
