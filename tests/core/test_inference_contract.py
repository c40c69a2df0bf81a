"""One inference contract: the app's predictor, `predict`, `evaluate`, `pseudo-label`, `suggest` and the
review queue give the same mask for a model with a non-default threshold and the largest-component rule,
from the checkpoint and from its ONNX export (fp32 and int8)."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest

from core.data.io import read_image, read_mask
from core.data.project import Project
from core.export.onnx import export_onnx
from core.hitl.review import predict_for_review, pseudo_mask_path
from core.infer.predictor import load_predictor
from core.train.data import open_dataset
from core.train.metrics import dice_iou
from tests.core.test_train_support import make_subset
from tests.core.tiny_trained import train_tiny
from training.cli import main

THRESHOLD = 0.3


@pytest.fixture(scope="module")
def thyroid(shared_data, tmp_path_factory):
    return make_subset(shared_data / "tg3k_thyroid", tmp_path_factory.mktemp("contract"), 12, n_unlabeled=4,
                       start=40)  # frames the model below never saw


@pytest.fixture(scope="module")
def model(shared_data, thyroid, tmp_path_factory):
    """A briefly trained thyroid model whose sidecar says threshold 0.3 and keep the largest component."""
    run = tmp_path_factory.mktemp("contract_run")
    sidecar = train_tiny(shared_data, run / "best", base_channels=8, steps=40)
    meta = json.loads(sidecar.read_text())
    meta["threshold"] = THRESHOLD
    meta["postprocess"] = {"max_components": 1}
    sidecar.write_text(json.dumps(meta))
    onnx = export_onnx(sidecar, run / "model.onnx", images=str(thyroid), max_images=2)["out"]
    return sidecar, onnx


def test_every_path_gives_the_same_mask(thyroid, model, tmp_path, capsys):
    sidecar, onnx = model
    app = load_predictor(onnx)  # what the app's HITL controller and review queue load
    assert app.threshold == THRESHOLD and app.max_components == 1
    unlabeled = sorted((thyroid / "unlabeled").iterdir())
    images = {p.stem: read_image(p) for p in unlabeled}
    shown = {k: app.predict(im) for k, im in images.items()}
    # the test can fail: the threshold and the component rule both change these masks
    plain = {k: (p.probabilities[0] > 0.5) for k, p in shown.items()}
    assert any(not np.array_equal(plain[k], shown[k].labels > 0) for k in shown)
    assert any(not np.array_equal(p.labels, p.mask) for p in shown.values()), "no image with a second blob"

    torch_masks = {k: load_predictor(sidecar).predict(im).mask for k, im in images.items()}
    for k in shown:  # checkpoint and ONNX agree apart from float noise at the threshold
        assert (torch_masks[k] != shown[k].mask).mean() < 1e-3

    assert main(["predict", "--model", str(onnx), "--input", str(thyroid / "unlabeled"), "--out",
                 str(tmp_path / "pred"), "--no-overlays", "--json"]) == 0
    capsys.readouterr()
    for k, p in shown.items():
        assert np.array_equal(read_mask(tmp_path / "pred" / "masks" / f"{k}.png") > 0, p.mask > 0)

    assert main(["pseudo-label", "--data", str(thyroid), "--out", str(tmp_path / "pl"), "--model", str(onnx),
                 "--json"]) == 0
    capsys.readouterr()
    for k, p in shown.items():
        written = read_mask(tmp_path / "pl" / "pseudo" / "masks" / f"{k}.png")
        assert np.array_equal(written > 0, p.mask > 0), k

    project = Project.open(thyroid)
    index = project.apply(open_dataset(thyroid).index)
    queued = [s for s in index if not s.has_mask]
    result = predict_for_review(project, queued, onnx)
    assert not result["failed"]
    for s in queued:
        assert np.array_equal(read_mask(pseudo_mask_path(project, s.id)) > 0, shown[s.image.stem].mask > 0)

    assert main(["suggest", "--data", str(thyroid), "--model", str(onnx), "--method", "tta", "--json"]) == 0
    from_onnx = json.loads(capsys.readouterr().out)
    assert main(["suggest", "--data", str(thyroid), "--model", str(sidecar), "--method", "tta", "--json"]) == 0
    from_ckpt = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in from_onnx["ranked"]] == [r["id"] for r in from_ckpt["ranked"]]


@pytest.mark.parametrize("int8", [False, True])
def test_evaluate_scores_an_onnx_model_with_its_own_contract(thyroid, model, tmp_path, capsys, int8):
    sidecar, onnx = model
    if int8:
        out = export_onnx(sidecar, tmp_path / "m.onnx", images=str(thyroid), max_images=2, int8=True,
                          calibration=str(thyroid))
        onnx = out["int8_out"]
    moved = tmp_path / "alone" / "given.onnx"  # a viewer user has the .onnx and no checkpoint beside it
    moved.parent.mkdir()
    shutil.copy(onnx, moved)
    assert main(["evaluate", "--model", str(moved), "--data", str(thyroid), "--split", "all", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 12 and report["precision"] == ("int8" if int8 else "fp32")
    predictor = load_predictor(moved)
    index = open_dataset(thyroid).index
    for row in report["per_image"][:3]:
        sample = index[row["id"]]
        truth = read_mask(sample.mask) > 0
        assert row["dice"] == pytest.approx(dice_iou(predictor.predict(read_image(sample.image)).mask > 0, truth)[0])
    assert {r["origin"] for r in report["per_image"]} <= {"train", "val", "test"}
    assert sum(v["n"] for v in report["by_origin"].values()) == 12


def test_bad_model_file_is_one_line(thyroid, tmp_path, capsys):
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"not a model")
    assert main(["evaluate", "--model", str(bad), "--data", str(thyroid)]) != 0
    err = capsys.readouterr().err.strip()
    assert "model.onnx" in err and len(err.splitlines()) == 1


def test_pseudo_label_csv_matches_the_masks(thyroid, model, tmp_path, capsys):
    _, onnx = model
    assert main(["pseudo-label", "--data", str(thyroid), "--out", str(tmp_path / "pl"), "--model", str(onnx),
                 "--band", "0.0", "0.2", "--json"]) == 0  # an explicit band replaces the model's for this run
    capsys.readouterr()
    rows = list(csv.DictReader((tmp_path / "pl" / "pseudo" / "pseudo_labels.csv").open()))
    for row in rows:
        mask = read_mask(tmp_path / "pl" / "pseudo" / "masks" / row["filename"]) > 0
        assert float(row["area_frac"]) == pytest.approx(mask.mean(), abs=1e-6)
        if mask.any():
            assert np.nonzero(mask)[0].mean() / (mask.shape[0] - 1) <= 0.2 or row["plausible"] == "False"
