"""The largest-component rule is chosen on validation when the val split can judge it (ADR 0007)."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from core.jobs import CancelToken
from core.train.data import open_dataset
from core.train.finetune import MIN_VAL_TO_CHOOSE
from core.train.loop import run_training
from core.train.objective_registry import OBJECTIVES
from core.train.runtime import start_runtime, stop_runtime
from tests.core.test_train_support import make_subset, tiny

HALF = [0.5, 0.5, 0.0]


@pytest.fixture(scope="module")
def thyroid(shared_data, tmp_path_factory):
    return make_subset(shared_data / "tg3k_thyroid", tmp_path_factory.mktemp("thy"), 24, start=100)


def _objective(root, ratios, val: int = 0):
    """The fine-tune objective on ``root``; with ``val`` that many labels of one acquisition group form
    the val split (group-aware ratios deal whole clips, so a tiny val split has to be made by hand)."""
    rt = start_runtime("cpu", False, 1)
    recipe = tiny("finetune", split_ratios=ratios)
    data = open_dataset(root, 0, ratios)
    if val:
        for k, s in enumerate(sorted(data.index.labeled(), key=lambda s: s.id)):
            s.split = "val" if k < val else "train"
    try:
        obj = OBJECTIVES["finetune"](recipe, data, rt, CancelToken(), lambda _m: None)
        obj.prepare()
    finally:
        stop_runtime(rt)
    target = torch.stack([obj.val_set[i][1] for i in range(len(obj.val_set))])
    return obj, target


def _dice(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean Dice per image of two (N, H, W) boolean stacks."""
    return float((2 * (a & b).sum((1, 2)) / (a.sum((1, 2)) + b.sum((1, 2)))).mean())


def _split_each_gland(target: torch.Tensor) -> torch.Tensor:
    """Cut every gland in two with a 2-pixel gap at its centre column: both halves are real."""
    cut = target.clone()
    for m in cut:
        cols = torch.nonzero(m.any(0)).flatten()
        mid = int(cols.float().mean())
        m[:, mid - 1 : mid + 1] = 0
    return cut


def test_validation_keeps_one_blob_against_strays_and_every_piece_of_a_real_structure(thyroid):
    obj, target = _objective(thyroid, HALF)
    assert len(target) >= MIN_VAL_TO_CHOOSE and obj.one_structure == 1
    stray = target.clone()
    stray[:, :6, :6] = 1  # a blob in the corner, far from the gland
    out: dict = {}
    shown = obj._shown(stray, target, out, decide=True)
    assert out["val_dice_largest"] > out["val_dice_all_components"]
    assert obj.meta["postprocess"]["max_components"] == 1
    assert _dice(shown > 0, target > 0) == pytest.approx(out["val_dice_largest"])

    cut = _split_each_gland(target)
    out = {}
    shown = obj._shown(cut, target, out, decide=True)
    assert out["val_dice_all_components"] > out["val_dice_largest"] + 0.05
    assert obj.meta["postprocess"]["max_components"] == 0  # keeping one half would cost Dice
    assert _dice(shown > 0, target > 0) == pytest.approx(out["val_dice_all_components"])


def test_a_val_split_too_small_to_judge_keeps_the_prior_from_the_labels(thyroid):
    obj, target = _objective(thyroid, [0.85, 0.15, 0.0], val=3)
    assert 0 < len(target) < MIN_VAL_TO_CHOOSE and obj.one_structure == 1
    out: dict = {}
    obj._shown(_split_each_gland(target), target, out, decide=True)
    assert out["val_dice_all_components"] > out["val_dice_largest"]
    assert obj.meta["postprocess"]["max_components"] == 1


def test_the_saved_checkpoint_carries_the_rule_its_own_validation_chose(thyroid, tmp_path):
    run_training(tiny("finetune", epochs=3, split_ratios=HALF), thyroid, tmp_path / "run")
    with (tmp_path / "run" / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    best = max(rows, key=lambda r: float(r["val_dice"]))  # the first epoch reaching the best val Dice
    every, one = float(best["val_dice_all_components"]), float(best["val_dice_largest"])
    assert float(best["val_dice"]) == pytest.approx(max(every, one))
    meta = json.loads((tmp_path / "run" / "best.json").read_text())
    assert meta["postprocess"]["max_components"] == int(one >= every)
    assert meta["epoch"] == int(best["epoch"])
