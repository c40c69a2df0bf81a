"""The training CLI contract, and DDP with two CPU processes under torchrun (gloo)."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys

import pytest

from core.train.data import open_dataset
from tests.core.test_train_support import make_subset
from training.cli import main

TINY = ["--arch", "unet", "--base-channels", "4", "--size", "64", "--threads", "1"]


@pytest.fixture(scope="module")
def thyroid(shared_data, tmp_path_factory):
    return make_subset(shared_data / "tg3k_thyroid", tmp_path_factory.mktemp("thy"), 12, n_unlabeled=4)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cli_finetune_then_resume_with_more_epochs(thyroid, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["finetune", "--data", str(thyroid), "--out", str(out), *TINY, "--epochs", "1", "--json",
                 "--schedule", "cosine", "--weight-ema", "0.9"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(["finetune", "--data", str(thyroid), "--out", str(out), "--resume", "--epochs", "2", "--json"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert (first["epochs"], second["epochs"]) == (1, 2) and second["steps"] == 2 * first["steps"]
    val = second["val"]  # the saved model's val Dice with n images, n groups and the 95 % interval
    assert val["n"] >= 1 and val["groups"] >= 1 and val["ci"][0] <= val["dice"] <= val["ci"][1]
    sidecar = json.loads((out / "last.json").read_text())
    assert sidecar["recipe"]["model"]["base_channels"] == 4 and sidecar["recipe"]["epochs"] == 2
    assert (sidecar["recipe"]["schedule"], sidecar["recipe"]["weight_ema"]) == ("cosine", 0.9)


def test_cli_refuses_bad_input_with_a_one_line_error(thyroid, tmp_path, capsys):
    assert main(["finetune", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "r")]) == 2
    assert "folder not found" in capsys.readouterr().err
    assert main(["finetune", "--data", str(thyroid), "--out", str(tmp_path / "r2"), "--resume"]) == 2
    assert "error:" in capsys.readouterr().err
    assert not (tmp_path / "r2").exists()


def test_save_splits_writes_them_into_the_project(thyroid, tmp_path, capsys):
    from core.data.project import Project

    src = make_subset(thyroid, tmp_path / "thy", 12)
    assert main(["pretrain-mim", "--data", str(src), "--out", str(tmp_path / "r"), *TINY, "--epochs", "1",
                 "--save-splits", "--json"]) == 0
    capsys.readouterr()
    project = Project.open(src)
    assert len(project.splits) == 12 and set(project.splits.values()) <= {"train", "val", "test"}


@pytest.mark.parametrize("mode", ["finetune", "mean-teacher"])
def test_ddp_two_cpu_processes_take_the_expected_number_of_steps(mode, thyroid, tmp_path):
    n_train = sum(1 for s in open_dataset(thyroid).index.labeled() if s.split == "train")
    batch, epochs, world = 2, 2, 2
    expected = epochs * math.ceil(math.ceil(n_train / world) / batch)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(world),
           "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), "-m", "training.cli", mode,
           "--data", str(thyroid), "--out", str(tmp_path / "run"), *TINY, "--epochs", str(epochs),
           "--batch-size", str(batch), "--json"]
    if mode == "mean-teacher":
        cmd += ["--unlabeled-batch-size", "2"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(results) == 1  # only rank 0 reports
    assert results[0]["steps"] == expected and results[0]["epochs"] == epochs
    assert f"on cpu x{world}" in proc.stderr
    rows = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert len(rows) == 1 + epochs
