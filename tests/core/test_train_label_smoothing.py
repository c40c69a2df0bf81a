"""Label smoothing (recipe key label_smoothing): the field added through the one registry of recipe
fields (issue 21) - its CLI flag and range come from its knob; the loss softens BCE / cross-entropy."""

from __future__ import annotations

import argparse

import pytest
import torch
import torch.nn.functional as F

from core.errors import ToothSegError
from core.models.checkpoint import read_sidecar
from core.train.data import open_dataset
from core.train.events import RecordingEvents
from core.train.loop import run_training
from core.train.losses import seg_loss
from tests.core.test_train_support import make_subset, tiny
from training.commands.train import build_recipe, register


def test_smoothing_moves_the_bce_optimum_off_the_hard_target_and_softens_cross_entropy():
    target = torch.zeros(1, 8, 8, dtype=torch.long)
    target[:, 2:6, 2:6] = 1
    sure = (target.float() * 2 - 1)[:, None] * 12          # nearly 0 / 1 probabilities, all right
    assert float(seg_loss(sure, target)) < 0.01
    # with smoothing 0.2 the BCE target is 0.9 / 0.1: a hedged prediction now beats the sure one
    hedged = (target.float() * 2 - 1)[:, None] * float(torch.logit(torch.tensor(0.9)))
    assert float(seg_loss(hedged, target, 0.2)) < float(seg_loss(sure, target, 0.2))
    assert float(seg_loss(sure, target, 0.2)) > float(seg_loss(sure, target)) + 0.5
    logits = torch.randn(2, 3, 8, 8)
    classes = torch.randint(0, 3, (2, 8, 8))
    ce_gap = F.cross_entropy(logits, classes, label_smoothing=0.1) - F.cross_entropy(logits, classes)
    assert float(seg_loss(logits, classes, 0.1) - seg_loss(logits, classes)) == pytest.approx(float(ce_gap), abs=1e-5)


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    return parser.parse_args(list(argv))


def test_flag_comes_from_the_knob_for_supervised_modes_only_and_is_range_checked(capsys):
    args = parse("finetune", "--data", "d", "--out", "o", "--size", "64", "--label-smoothing", "0.1")
    assert build_recipe(args).label_smoothing == pytest.approx(0.1)
    with pytest.raises(SystemExit):
        parse("pretrain-mim", "--data", "d", "--out", "o", "--label-smoothing", "0.1")
    assert "unrecognized arguments: --label-smoothing" in capsys.readouterr().err
    with pytest.raises(ToothSegError, match=r"label_smoothing must lie in \[0, 0.5\], got 0.7"):
        build_recipe(parse("mean-teacher", "--data", "d", "--out", "o", "--label-smoothing", "0.7"))


def test_finetune_on_real_thyroid_frames_with_smoothing_trains_and_records_the_factor(shared_data, tmp_path):
    data = open_dataset(make_subset(shared_data / "tg3k_thyroid", tmp_path / "thy", 8))
    first = {}
    for factor in (0.0, 0.2):
        events = RecordingEvents()
        run_training(tiny("finetune", epochs=1, augment=False, label_smoothing=factor), data,
                     tmp_path / f"run{factor}", events=events)
        first[factor] = events.steps[0][1]
        assert read_sidecar(tmp_path / f"run{factor}" / "best.json")["recipe"]["label_smoothing"] == factor
    # same seed, same weights and batch: only the softened BCE target changes the first loss
    assert first[0.2] != pytest.approx(first[0.0], abs=1e-4)
