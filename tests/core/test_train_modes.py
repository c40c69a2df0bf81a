"""Every training mode runs on real data, writes its RUN_DIR, and learns (tiny models, 64 px)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from core.models.checkpoint import load_checkpoint
from core.train.data import open_dataset
from core.train.events import RecordingEvents
from core.train.loop import run_training
from tests.core.test_train_support import make_subset, tiny


@pytest.fixture(scope="module")
def thyroid(shared_data, tmp_path_factory):
    return make_subset(shared_data / "tg3k_thyroid", tmp_path_factory.mktemp("thy"), 12, n_unlabeled=4)


@pytest.mark.parametrize("mode", ["finetune", "pretrain-mim", "pretrain-recon", "mean-teacher"])
def test_every_mode_runs_and_writes_checkpoints_metrics_and_sidecar(mode, thyroid, tmp_path):
    events = RecordingEvents()
    result = run_training(tiny(mode), thyroid, tmp_path / "run", events=events)
    per_epoch = events.info["steps_per_epoch"]
    assert result["stopped"] == "completed"
    assert result["steps"] == 2 * per_epoch == len(events.steps) == events.total_steps
    assert [e for e, _ in events.epochs] == [1, 2]
    for name in ("best.safetensors", "best.json", "last.safetensors", "last.json", "last_state.pt", "metrics.csv"):
        assert (tmp_path / "run" / name).is_file(), name
    rows = list(csv.DictReader((tmp_path / "run" / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert result["monitor"] in rows[0]
    model, meta = load_checkpoint(tmp_path / "run" / "best.json")
    assert meta["mode"] == mode and meta["recipe"]["mode"] == mode
    assert meta["input_size"] == [64, 64] and meta["normalization"]["std"] == 0.25
    assert len(meta["fingerprint"]) == 16 and meta["classes"]
    assert result["monitor"] in meta["metrics"]
    assert events.previews and all(v.dtype == np.float32 and v.ndim == 2 for v in events.previews[-1].values())


def test_finetune_loss_falls(thyroid, tmp_path):
    events = RecordingEvents()
    run_training(tiny("finetune", epochs=8, augment=False, batch_size=5), thyroid, tmp_path / "run", events=events)
    losses = [loss for _, loss, _ in events.steps]
    assert np.mean(losses[-3:]) < np.mean(losses[:3]) - 0.05


def test_mim_loss_falls_previews_the_quartet_and_logs_tensorboard_images(thyroid, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = RecordingEvents()
    run_training(tiny("pretrain-mim", epochs=6, tensorboard=True), thyroid, tmp_path / "run", events=events)
    losses = [loss for _, loss, _ in events.steps]
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
    quartet = {"mim/input_masked", "mim/target_full", "mim/recon_pred", "mim/abs_error"}
    assert set(events.previews[-1]) == quartet
    prev = events.previews[-1]
    masked = prev["mim/input_masked"] == 0
    assert 0.05 < masked.mean() < 0.95  # the blocks really hide part of the image
    np.testing.assert_allclose(prev["mim/abs_error"], np.abs(prev["mim/recon_pred"] - prev["mim/target_full"]))
    acc = EventAccumulator(str(tmp_path / "run" / "tb"))
    acc.Reload()
    assert quartet <= set(acc.Tags()["images"])
    assert {"train_loss", "val_loss"} <= set(acc.Tags()["scalars"])


def test_same_seed_gives_the_same_losses(thyroid, tmp_path):
    a, b = RecordingEvents(), RecordingEvents()
    run_training(tiny("finetune"), thyroid, tmp_path / "a", events=a)
    run_training(tiny("finetune"), thyroid, tmp_path / "b", events=b)
    assert [s[1] for s in a.steps] == pytest.approx([s[1] for s in b.steps], rel=1e-5)


def test_mim_init_loads_all_but_the_head_into_a_multiclass_model_and_reports_skips(thyroid, tmp_path):
    run_training(tiny("pretrain-mim", epochs=1), thyroid, tmp_path / "mim")
    events = RecordingEvents()
    recipe = tiny("finetune", epochs=1, labels="multiclass", init=str(tmp_path / "mim" / "best.json"))
    run_training(recipe, thyroid, tmp_path / "ft", events=events)
    log = "\n".join(events.logs)
    # the reconstruction head is never reused; every other tensor is
    assert "skipped head.weight: excluded by prefix" in log and "skipped head.bias" in log
    assert "skipped 2" in log and "skipped encoder" not in log
    assert events.info["channels"] == 2  # background + the thyroid class guessed from the masks
    sidecar = json.loads((tmp_path / "ft" / "best.json").read_text())
    assert [c["value"] for c in sidecar["classes"]] == [0, 1]


def test_labels_fraction_trains_on_a_seeded_subset(thyroid, tmp_path):
    data = open_dataset(thyroid)
    n_train = sum(1 for s in data.index.labeled() if s.split == "train")
    events = RecordingEvents()
    run_training(tiny("finetune", epochs=1, labels_fraction=0.3), data, tmp_path / "run", events=events)
    assert events.info["train"] == round(n_train * 0.3)
