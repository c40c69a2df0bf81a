"""Dice intervals: a bootstrap over acquisition groups, widened for few groups, with a note when useless."""

from __future__ import annotations

import numpy as np
import pytest

from core.train.confidence import describe, dice_summary, from_metrics, group_bootstrap


def _clip_dice(shared_data) -> tuple[list[float], list[str]]:
    """Real per-frame agreement: Dice of each TG3K mask with its clip's first mask (clips of 4 frames)."""
    from core.data.io import read_mask
    from core.metrics import dice

    names = sorted(p.name for p in (shared_data / "tg3k_thyroid" / "masks").iterdir())[:48]
    values, groups = [], []
    for k in range(0, len(names), 4):
        first = read_mask(shared_data / "tg3k_thyroid" / "masks" / names[k])
        for name in names[k + 1: k + 4]:
            values.append(dice(read_mask(shared_data / "tg3k_thyroid" / "masks" / name), first))
            groups.append(f"clip{k}")
    return values, groups


def test_interval_over_groups_is_wider_than_over_images(shared_data):
    values, groups = _clip_dice(shared_data)
    by_group = dice_summary(values, groups)
    alone = dice_summary(values)
    assert by_group["n"] == alone["n"] == 36 and by_group["groups"] == 12 and alone["groups"] == 36
    assert by_group["ci"][0] <= by_group["dice"] <= by_group["ci"][1]
    assert by_group["ci"][1] - by_group["ci"][0] > alone["ci"][1] - alone["ci"][0]
    assert by_group["ci_ok"] and not by_group["ci_note"]
    assert dice_summary(values, groups) == by_group  # seeded: the same figures every time
    text = describe(by_group)
    assert "95 % CI" in text and "36 images, 12 groups" in text


def test_few_groups_say_so_in_words(shared_data):
    values, groups = _clip_dice(shared_data)
    few = dice_summary(values[:6], groups[:6])
    assert few["groups"] == 2 and not few["ci_ok"] and "too few for a useful interval" in few["ci_note"]
    assert "too few" in describe(few)
    assert dice_summary([])["dice"] is None and "no images" in describe(dice_summary([]))
    # two groups: the widening (sqrt(2) * t(1) / 1.96 = 9.2x) makes the interval span nearly everything
    low, high = group_bootstrap([0.2, 0.3, 0.8, 0.9], ["a", "a", "b", "b"])
    assert low == pytest.approx(0.0) and high == pytest.approx(1.0)
    assert from_metrics({"val_dice": 0.7, "val_ci": [0.6, 0.8], "val_n": 20, "val_groups": 9})["groups"] == 9
    assert from_metrics({}) is None
    assert np.isfinite(group_bootstrap([0.5], ["a"])).all()
