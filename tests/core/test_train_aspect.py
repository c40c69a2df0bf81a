"""Non-square training input (``width``): panoramic X-rays keep their 2:1 shape from training to ONNX."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.data.io import read_image
from core.errors import ToothSegError
from core.export.onnx import export_onnx
from core.infer.predictor import load_predictor
from core.train.data import cache_samples, open_dataset
from core.train.evaluate import evaluate
from core.train.loop import run_training
from core.train.recipe import default_recipe
from tests.core.test_train_support import make_subset, tiny
from training.cli import main


@pytest.fixture(scope="module")
def teeth(shared_data, tmp_path_factory):
    return make_subset(shared_data / "ufba425_teeth", tmp_path_factory.mktemp("teeth"), 8, n_unlabeled=2)


def test_width_is_validated_and_named():
    r = default_recipe("finetune").updated(size=160, width=320)
    assert r.input_hw == (160, 320) and r.size_text == "320x160px"
    assert default_recipe("finetune").updated(size=128).size_text == "128px"
    with pytest.raises(ToothSegError, match="width"):
        default_recipe("finetune").updated(width=8)


def test_panoramics_train_at_two_to_one_and_predict_at_full_size_through_onnx(teeth, tmp_path, capsys):
    data = open_dataset(teeth)
    cached = cache_samples(data.index.labeled()[:2], (32, 64), np.arange(256, dtype=np.uint8) > 0)
    assert cached.images[0].shape == (32, 64) and cached.targets[0].shape == (32, 64)
    run = tmp_path / "run"
    assert main(["finetune", "--data", str(teeth), "--out", str(run), "--arch", "unet", "--base-channels", "4",
                 "--size", "32", "--width", "64", "--epochs", "2", "--batch-size", "4", "--threads", "1",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["epochs"] == 2
    sidecar = json.loads((run / "best.json").read_text())
    assert sidecar["input_size"] == [32, 64] and sidecar["recipe"]["width"] == 64
    onnx = tmp_path / "model.onnx"
    export_onnx(run / "best.json", onnx, images=str(teeth / "images"), max_images=2)
    predictor = load_predictor(onnx)
    assert list(predictor.policy["size"]) == [32, 64]
    image = read_image(next((teeth / "unlabeled").iterdir()))
    assert predictor.predict(image).mask.shape == image.shape[:2]
    report = evaluate(run / "best.json", data, split="all")
    assert report["n"] == 8 and 0 <= report["dice"] <= 1


@pytest.mark.parametrize("mode", ["pretrain-mim", "mean-teacher"])
def test_pretraining_and_mean_teacher_accept_a_non_square_input(mode, teeth, tmp_path):
    result = run_training(tiny(mode, size=32, width=64, epochs=1, preview_every=0), open_dataset(teeth), tmp_path / mode)
    assert result["epochs"] == 1
    assert json.loads((tmp_path / mode / "last.json").read_text())["input_size"] == [32, 64]
