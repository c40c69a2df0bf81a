"""evaluate, suggest and pseudo-label on real data, through the core API and the CLI."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from core.data.io import read_mask
from core.data.masks import load_image, load_mask
from core.errors import ToothSegError
from core.infer.postprocess import postprocess_binary
from core.train.checkpoint_model import CheckpointModel
from core.train.data import open_dataset
from core.train.evaluate import evaluate
from core.train.loop import run_training
from core.train.metrics import dice_iou
from core.train.pseudo import run_pseudo_label
from core.train.suggest import band_brightness, suggest
from tests.core.test_train_support import make_subset, tiny
from training.cli import main


@pytest.fixture(scope="module")
def thyroid(shared_data, tmp_path_factory):
    return make_subset(shared_data / "tg3k_thyroid", tmp_path_factory.mktemp("thy"), 12, n_unlabeled=4)


@pytest.fixture(scope="module")
def teeth(shared_data, tmp_path_factory):
    return make_subset(shared_data / "ufba425_teeth", tmp_path_factory.mktemp("teeth"), 10)


@pytest.fixture(scope="module")
def thyroid_model(thyroid, tmp_path_factory):
    run = tmp_path_factory.mktemp("thy_run")
    run_training(tiny("finetune", epochs=6, batch_size=5), thyroid, run)
    return run / "best.json"


def test_evaluate_report_keys_and_values_match_an_independent_computation(thyroid, thyroid_model, capsys):
    assert main(["evaluate", "--model", str(thyroid_model), "--data", str(thyroid), "--split", "all", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {"dice", "iou", "n", "per_image", "best", "worst"} <= set(report)
    assert report["n"] == 12 == len(report["per_image"])
    assert report["dice"] == pytest.approx(np.mean([r["dice"] for r in report["per_image"]]))
    ckpt = CheckpointModel(thyroid_model)
    sample = open_dataset(thyroid).index[report["per_image"][0]["id"]]
    image = load_image(sample)
    raw = ckpt.labels(ckpt.probabilities(image)) > 0
    assert ckpt.meta["postprocess"]["max_components"] == 1  # one gland per label: the model keeps one blob
    shown = postprocess_binary(raw, None, ckpt.predictor.min_area_frac, max_components=1) > 0
    expect = dice_iou(shown, load_mask(sample) > 0)
    assert (report["per_image"][0]["dice"], report["per_image"][0]["iou"]) == pytest.approx(expect)
    assert report["per_image"][0]["dice_raw"] == pytest.approx(dice_iou(raw, load_mask(sample) > 0)[0])
    assert report["dice_raw"] == pytest.approx(np.mean([r["dice_raw"] for r in report["per_image"]]))
    assert report["worst"][0] == min(report["per_image"], key=lambda r: r["dice"])["id"]
    # every Dice carries n, n groups and a 95 % interval over acquisition groups (core.train.confidence)
    assert report["groups"] == len({r["group"] for r in report["per_image"]}) >= 1
    assert report["ci"][0] <= report["dice"] <= report["ci"][1]
    assert report["ci_ok"] == (report["groups"] >= 5 and report["n"] >= 10)
    assert report["ci_ok"] or "too few for a useful interval" in report["ci_note"]


def test_a_binary_model_evaluates_against_fdi_label_maps_as_foreground(teeth, tmp_path):
    run_training(tiny("finetune", epochs=2), teeth, tmp_path / "run")
    report = evaluate(tmp_path / "run" / "best.json", teeth, split="all")
    assert report["binary"] and report["n"] == 10
    ckpt = CheckpointModel(tmp_path / "run" / "best.json")
    first = report["per_image"][0]
    sample = open_dataset(teeth).index[first["id"]]
    labels = read_mask(sample.mask)
    assert labels.max() > 10  # FDI numbers, not 0/1
    pred = ckpt.labels(ckpt.probabilities(load_image(sample))) > 0
    assert ckpt.meta["postprocess"]["max_components"] == 0  # many teeth: no component limit
    shown = postprocess_binary(pred, None, ckpt.predictor.min_area_frac) > 0
    assert first["dice"] == pytest.approx(dice_iou(shown, labels > 0)[0])
    assert first["dice"] > 0.2  # scored against every tooth, not against a label value of 1


def test_multiclass_teeth_model_reports_per_class_scores(teeth, tmp_path):
    events_run = run_training(tiny("finetune", epochs=1, labels="multiclass"), teeth, tmp_path / "run")
    assert events_run["steps"] >= 1
    report = evaluate(tmp_path / "run" / "best.json", teeth, split="all")
    assert not report["binary"]
    assert len(report["per_class"]) == 32 and "tooth 11" in report["per_class"]
    assert set(report["per_image"][0]["per_class"]) == set(report["per_class"])


def test_evaluate_refuses_an_empty_split(thyroid, thyroid_model):
    data = open_dataset(thyroid)
    for s in data.index:
        s.split = "train"
    with pytest.raises(ToothSegError, match="no labeled images in split 'test'"):
        evaluate(thyroid_model, data, split="test")


def test_suggest_ranks_by_band_brightness_without_a_model(thyroid):
    result = suggest(thyroid, top=10)
    data = open_dataset(thyroid)
    expect = sorted(((band_brightness(load_image(s)), s.id) for s in data.index.unlabeled()), reverse=True)
    assert result["method"] == "brightness" and result["n"] == 4
    assert [r["id"] for r in result["ranked"]] == [sid for _, sid in expect]
    assert [r["rank"] for r in result["ranked"]] == [1, 2, 3, 4]


@pytest.mark.parametrize("method", ["entropy", "tta"])
def test_suggest_ranks_by_model_uncertainty(thyroid, thyroid_model, method, capsys):
    assert main(["suggest", "--data", str(thyroid), "--model", str(thyroid_model), "--method", method,
                 "--top", "3", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    scores = [r["score"] for r in result["ranked"]]
    assert result["method"] == method and result["n"] == 4 and len(scores) == 3
    assert scores == sorted(scores, reverse=True) and all(s >= 0 for s in scores)


def test_pseudo_label_writes_masks_overlays_and_csv(thyroid, tmp_path):
    result = run_pseudo_label(tiny("pseudo-label", epochs=3, band=[0.0, 1.0],
                                   model={"name": "small_unet", "base_channels": 4}), thyroid, tmp_path / "run")
    out = tmp_path / "run" / "pseudo"
    rows = list(csv.DictReader((out / "pseudo_labels.csv").open()))
    assert list(rows[0]) == ["filename", "area_frac", "cy_rel", "cx_rel", "plausible"]
    assert len(rows) == 4 == result["labeled_images"]
    for row in rows:
        mask = read_mask(out / "masks" / row["filename"])
        assert set(np.unique(mask)) <= {0, 1}  # 0/255 on disk, read back as 0/1
        assert float(row["area_frac"]) == pytest.approx(mask.mean(), abs=1e-6)
        overlay = (out / "overlays" / row["filename"])
        assert overlay.is_file() and overlay.stat().st_size > 0
    assert (tmp_path / "run" / "best.json").is_file()


def test_pseudo_label_cli_with_a_given_model_skips_training(thyroid, thyroid_model, tmp_path, capsys):
    code = main(["pseudo-label", "--data", str(thyroid), "--out", str(tmp_path / "run"), "--model",
                 str(thyroid_model), "--label-value", "1", "--band", "0.1", "0.9", "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["labeled_images"] == 4 and not (tmp_path / "run" / "metrics.csv").exists()
