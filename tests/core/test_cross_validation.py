"""Cross-validation over groups with repeats: every label is scored once per repeat by a fold model that never
saw its group, and its Dice (and quality signals) are averaged over the repeats before the bootstrap."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.data.sample import Sample
from core.hitl import auto_train
from core.hitl.cross_validation import (
    LOGO_MAX_LABELS,
    MAX_FOLDS,
    average_repeats,
    cross_validate,
    fold_assignment,
    fold_count,
)
from core.train.data import open_dataset
from tests.core.test_hitl_auto_train import TINY, open_project, thyroid  # noqa: F401 (fixture)


def test_repeated_folds_average_each_label_over_repeats(thyroid, tmp_path):  # noqa: F811
    project, index = open_project(thyroid)
    auto_train.ensure_splits(project, index)
    recipe = auto_train.plan_training(project, index, device="cpu", **TINY).recipe
    data = open_dataset(thyroid, recipe.split_seed, recipe.split_ratios)
    labels = [s for s in data.index if s.is_training_label]
    assert len({s.group for s in labels}) >= 3

    def partition(seed: int) -> set[frozenset[str]]:
        folds = fold_assignment(labels, k=2, seed=seed)
        return {frozenset(i for i, f in folds.items() if f == k) for k in set(folds.values())}

    assert partition(0) != partition(101)                     # the repeat holds out other group combinations
    cv = cross_validate(recipe, data, tmp_path, steps=2, minutes=1.0, folds=2, repeats=2)
    assert cv["method"] == "2-fold cross-validation over groups, 2 repeats" and cv["repeats"] == 2
    assert cv["n"] == len(labels) and len({r["id"] for r in cv["per_image"]}) == len(labels)  # n stays the labels
    for row in cv["per_image"]:
        assert len(row["dice_repeats"]) == 2
        assert row["dice"] == pytest.approx(sum(row["dice_repeats"]) / 2)
        assert row["soft"] is not None and 0.0 <= row["soft"] <= 1.0
    assert cv["ci"][0] <= cv["dice"] <= cv["ci"][1]
    stored = json.loads((Path(tmp_path) / "cross_validation.json").read_text())
    assert stored["per_image"] == cv["per_image"] and not (Path(tmp_path) / "cv").exists()
    # one group per fold: a repeat would hold out the same groups again, so it is not run
    loo = cross_validate(recipe, data, tmp_path, steps=2, minutes=1.0, folds=len(labels), repeats=2)
    assert loo["repeats"] == 1 and loo["folds"] == len({s.group for s in labels}) and "repeats" not in loo["method"]


def test_average_repeats_keeps_one_row_per_label_and_skips_missing_signals():
    rows = [{"id": "a", "dice": 0.2, "soft": 0.4, "flip": None, "fold": 1, "group": "g"},
            {"id": "b", "dice": 0.9, "soft": 0.8, "flip": None, "fold": 2, "group": "h"},
            {"id": "a", "dice": 0.6, "soft": 0.6, "flip": None, "fold": 5, "group": "g"}]
    out = {r["id"]: r for r in average_repeats(rows)}
    assert out["a"]["dice"] == pytest.approx(0.4) and out["a"]["soft"] == pytest.approx(0.5)
    assert out["a"]["fold"] == 1 and out["a"]["dice_repeats"] == [0.2, 0.6] and out["a"]["flip"] is None
    assert out["b"] == rows[1]                                # scored once: unchanged


def test_a_fold_cut_short_by_its_time_cap_is_said_in_words(thyroid, tmp_path):  # noqa: F811
    project, index = open_project(thyroid)
    auto_train.ensure_splits(project, index)
    recipe = auto_train.plan_training(project, index, device="cpu", **{**TINY, "max_steps": 0}).recipe
    data = open_dataset(thyroid, recipe.split_seed, recipe.split_ratios)
    cv = cross_validate(recipe, data, tmp_path, steps=100_000, minutes=0.004, folds=2)
    assert cv["n"] > 0 and "stopped at its time cap after" in cv["ci_note"] and "pessimistic" in cv["ci_note"]
    enough = cross_validate(recipe, data, tmp_path, steps=2, minutes=1.0, folds=2)
    assert "time cap" not in enough["ci_note"]


def _labels(n: int, groups: int, status: str = "labeled") -> list[Sample]:
    return [Sample(f"{status}{i}", Path(f"{i}.png"), Path(f"m{i}.png"), group=f"{status}-g{i % groups}", status=status)
            for i in range(n)]


def test_small_label_sets_hold_out_one_group_per_fold_and_larger_ones_a_quarter():
    # 20 labels in 11 clips: 10 folds (one clip each, two of the smallest share one), every fold model trains
    # on ~90 % of the labels; 50 labels keep 4 folds
    assert fold_count(_labels(20, 11)) == 10 and fold_count(_labels(20, 7)) == 7
    assert fold_count(_labels(LOGO_MAX_LABELS, 9)) == 9 and fold_count(_labels(LOGO_MAX_LABELS + 1, 11)) == MAX_FOLDS
    assert fold_count(_labels(50, 11)) == MAX_FOLDS and fold_count(_labels(12, 1)) == 1
    # accepted pseudo-labels are not scored: their groups get no fold of their own, nor do they make a set large
    mixed = _labels(8, 4) + _labels(40, 6, status="reviewed")
    assert fold_count(mixed) == 4
    folds = fold_assignment(_labels(20, 11), k=fold_count(_labels(20, 11)))
    held = [sum(v == f for v in folds.values()) for f in range(10)]
    assert held == [2] * 10  # the two one-label clips share a fold: each fold holds out 10 % of the labels
