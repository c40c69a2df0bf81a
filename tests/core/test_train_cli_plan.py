"""`toothseg finetune` without shaping flags trains the device-aware plan of Train on my labels."""

from __future__ import annotations

import json

from tests.core.test_train_support import make_subset
from training.cli import main


def test_flagless_finetune_trains_the_buttons_plan(shared_data, tmp_path, capsys, monkeypatch):
    from core.hitl import plan

    monkeypatch.setattr(plan, "foundation_available", lambda: False)  # the U-Net plan (the head: ADR 0015 tests)
    data = make_subset(shared_data / "tg3k_thyroid", tmp_path / "thyroid", 12)
    run = tmp_path / "run"
    assert main(["finetune", "--data", str(data), "--out", str(run), "--max-minutes", "0.05", "--threads", "1",
                 "--json"]) == 0
    out = capsys.readouterr()
    assert "plan: 12 labels, unet (8 ch), 128px, 0.05 min on cpu, from scratch" in out.err
    assert json.loads(out.out)["epochs"] >= 1
    recipe = json.loads((run / "last.json").read_text())["recipe"]
    assert (recipe["model"]["base_channels"], recipe["size"], recipe["augment"]) == (8, 128, False)
    assert recipe["split_ratios"] == [0.85, 0.15, 0.0] and recipe["lr"] == 0.01


def test_shaping_flags_train_the_shipped_recipe_and_too_few_labels_fail_in_one_line(shared_data, tmp_path, capsys):
    data = make_subset(shared_data / "tg3k_thyroid", tmp_path / "thyroid", 12)
    run = tmp_path / "run"
    assert main(["finetune", "--data", str(data), "--out", str(run), "--size", "32", "--epochs", "1",
                 "--threads", "1", "--json"]) == 0
    assert "plan:" not in capsys.readouterr().err
    recipe = json.loads((run / "last.json").read_text())["recipe"]
    assert (recipe["model"]["base_channels"], recipe["size"]) == (16, 32)
    few = make_subset(shared_data / "tg3k_thyroid", tmp_path / "few", 2)
    assert main(["finetune", "--data", str(few), "--out", str(tmp_path / "r2")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "at least 4 labeled" in err[0] and not (tmp_path / "r2").exists()
