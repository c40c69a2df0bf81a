"""The numbered-teeth recipe end to end on real panoramics with a tiny network and a few CPU seconds:
training writes its snapshots, the predictor returns FDI-numbered, scored instances, the evaluation
reports pixel and tooth measures, and a full-size caries panoramic goes through the sliding window
without seams (the blended tiles agree with one pass over the whole canvas)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from core.data.classes import FDI_NUMBERS
from core.teeth.evaluate import evaluate_teeth
from core.teeth.predictor import TeethPredictor
from core.teeth.recipe import TeethRecipe, holdout_split, labeled_samples, train_teeth
from core.teeth.scale import working_size
from core.teeth.targets import FG
from tests.core.helpers import copy_pairs
from training.cli import main


@pytest.fixture(scope="module")
def tiny_teeth(shared_data, tmp_path_factory):
    root = shared_data / "ufba425_teeth"
    stems = [p.stem for p in sorted((root / "images").glob("*.jpg"))]
    train, test = holdout_split(stems)
    assert not set(train) & set(test) and len(test) == round(0.2 * len(stems))
    out = tmp_path_factory.mktemp("teeth")
    recipe = TeethRecipe(base_channels=4, depth=3, crop=(128, 192), batch_size=2, max_cpu_minutes=0.08,
                         snapshots=(0.04,), warmup_steps=2)
    used: list[float] = []
    summary = train_teeth(labeled_samples(root, train[:6]), out, recipe, log=lambda _s: None, on_budget=used.append)
    summary["budget_used"] = used
    return root, test, out, summary


def test_training_writes_snapshots_by_cpu_time(tiny_teeth):
    _, _, out, summary = tiny_teeth
    assert summary["steps"] > 0 and summary["cpu_minutes"] >= 0.08
    assert (out / "snapshot-0.04.pt").exists() and (out / "last.pt").exists()
    used = summary["budget_used"]      # the share of the CPU budget, after every step (the app's progress bar)
    assert len(used) == summary["steps"] and used == sorted(used) and 0 < used[0] and used[-1] >= 0.9


def test_predictions_are_numbered_scored_instances(tiny_teeth):
    root, test, out, _ = tiny_teeth
    predictor = TeethPredictor(out / "last.pt")
    image = cv2.imread(str(root / "images" / f"{test[0]}.jpg"), cv2.IMREAD_GRAYSCALE)
    pred = predictor.predict(image)
    assert pred.mask.shape == image.shape and pred.tiles == 1
    assert set(np.unique(pred.mask).tolist()) <= {0, *FDI_NUMBERS}
    for inst in pred.instances:
        assert inst.value in FDI_NUMBERS and 0.0 <= inst.score <= 1.0 and inst.area == inst.mask.sum()
    report = evaluate_teeth(predictor, root, test[:2])
    assert report["n"] == 2 and 0.0 <= report["dice"] <= 1.0
    assert report["identification_accuracy"] is not None and report["true_teeth"] > 20


def test_full_size_panoramic_has_no_seams(tiny_teeth, shared_data):
    _, _, out, _ = tiny_teeth
    predictor = TeethPredictor(out / "last.pt")
    path = sorted((shared_data / "mlua_panoramic_caries" / "images").glob("*.png"))[0]
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    h, w = working_size(*image.shape)
    assert image.shape == (1435, 2943) and w > 600 and 500 <= h < 640
    tiled, tiles = predictor.outputs(image)
    assert tiles > 1 and tiled.shape[1:] == (h, w)
    whole, one = predictor.outputs(image, window=4096)       # one pass over the whole canvas
    assert one == 1
    diff = np.abs(tiled[FG] - whole[FG])
    assert diff.mean() < 0.01 and diff.max() < 0.25
    pred = predictor.predict(image)
    assert pred.mask.shape == image.shape


def test_cli_trains_and_evaluates_the_recipe_and_refuses_non_fdi_masks(tiny_teeth, shared_data, tmp_path, capsys):
    _, _, out, _ = tiny_teeth
    copy_pairs(shared_data, "ufba425_teeth", 6, tmp_path / "teeth")
    assert main(["evaluate", "--model", str(out / "last.pt"), "--data", str(tmp_path / "teeth"), "--split", "all",
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 6 and report["true_teeth"] > 100 and 0 <= report["identification_accuracy"] <= 1
    assert main(["train-teeth", str(tmp_path / "teeth"), "--out", str(tmp_path / "run"), "--minutes", "0.03",
                 "--holdout", "0.2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["train"] == 5 and result["heldout"] == 1 and result["steps"] >= 1
    assert (tmp_path / "run" / "last.pt").exists() and 0 <= result["dice"] <= 1
    copy_pairs(shared_data, "mlua_panoramic_caries", 2, tmp_path / "caries", image_ext=".png")
    assert main(["train-teeth", str(tmp_path / "caries"), "--out", str(tmp_path / "run2")]) != 0
    err = capsys.readouterr().err
    assert "not FDI tooth numbers" in err and "Traceback" not in err and not (tmp_path / "run2").exists()
