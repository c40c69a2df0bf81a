"""Train on my labels on an FDI folder (issue 20): the plan picks the numbered-teeth recipe, the run
exports ONNX with its metadata and parity, scores it honestly on validation and makes it active; the
inference contract's teeth branch (ONNX Runtime, no torch) gives the same teeth as ``TeethPredictor``,
and ``toothseg predict`` / ``evaluate`` / ``train-on-labels`` run it. Real UFBA-425 panoramics, a tiny
network and a few CPU seconds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.data.classes import FDI_NUMBERS
from core.data.layouts import load_index
from core.data.project import Project
from core.errors import ModelFileError
from core.hitl.auto_train import model_path, plan_training
from core.infer.backends import read_onnx
from core.infer.predictor import SegmentationPredictor, load_predictor
from core.infer.teeth import TeethInstancePredictor
from core.teeth.network_io import teeth_outputs
from core.teeth.scale import working_size
from tests.core.helpers import copy_pairs
from tests.core.teeth_trained import trained_teeth
from training.cli import main


@pytest.fixture(scope="module")
def run(shared_data, tmp_path_factory):
    return trained_teeth(shared_data, tmp_path_factory.mktemp("teeth-run"))


def test_an_fdi_folder_plans_numbered_teeth_and_other_folders_do_not(shared_data, tmp_path):
    copy_pairs(shared_data, "ufba425_teeth", 4, tmp_path / "fdi")
    project = Project.open(tmp_path / "fdi")          # never opened in the app: the default one-class table
    index = project.apply(load_index(tmp_path / "fdi"))
    plan = plan_training(project, index, minutes=2.0)
    assert plan.teeth is not None and plan.numbers == FDI_NUMBERS and plan.teeth["max_cpu_minutes"] == 2.0
    assert plan.recipe.max_minutes == 2.0 and "numbered teeth" in plan.describe() and "raise the budget" in plan.describe()
    assert "raise the budget" not in plan_training(project, index, minutes=10.0).describe()
    assert plan_training(project, index).teeth["max_cpu_minutes"] == 10.0   # the default: usable teeth, not 1 min
    assert plan_training(project, index, minutes=2.0, teeth=False).teeth is None     # opt out
    assert plan_training(project, index, minutes=2.0, foundation=False,
                         model={"name": "unet", "base_channels": 4, "norm": "batch"}).teeth is None
    copy_pairs(shared_data, "tg3k_thyroid", 4, tmp_path / "thyroid", mask_ext=".jpg")
    thyroid = Project.open(tmp_path / "thyroid")
    assert plan_training(thyroid, thyroid.apply(load_index(tmp_path / "thyroid")), minutes=1.0).teeth is None


def test_train_on_labels_registers_an_active_onnx_teeth_model_with_honest_figures(run):
    root, entry, outcome = run
    project = Project.open(root)
    assert project.active_model == entry.name and entry.mode == "teeth-instances" and entry.name.startswith("teeth-")
    onnx = model_path(project, entry, onnx=True)
    assert onnx.exists() and model_path(project, entry).suffix == ".pt"
    assert not list(onnx.parent.glob("snapshot-*.pt"))          # no second copy of last.pt
    m = entry.metrics
    assert m["val_n"] >= 1 and m["val_groups"] >= 1 and 0.0 <= m["val_dice"] <= 1.0
    assert m["val_ci"][0] <= m["val_dice"] <= m["val_ci"][1] and "too few" in m["val_note"]   # 1-2 val images
    assert 0.0 <= m["id_accuracy"] <= 1.0 and 0.0 <= m["map50"] <= 1.0
    from core.hitl.cross_validation import quality_text  # the Training and Models panels' line

    assert "numbered teeth: identification accuracy" in quality_text(m) and "Validation Dice" in quality_text(m)
    meta = read_onnx(onnx, onnx.name)
    assert meta["instances"]["kind"] == "fdi-teeth" and meta["architecture"]["in_channels"] == 3
    assert meta["parity"]["max_abs_diff"] <= 1e-4 and [c["value"] for c in meta["classes"]][1:] == FDI_NUMBERS
    assert outcome["export"]["max_abs_diff"] <= 1e-4
    events = outcome["events"]                 # the Training panel's curves and log
    assert events.info["mode"] == "numbered teeth" and len(events.steps) == outcome["training"]["steps"] > 0
    assert any("validation (n = " in line for line in events.logs)


def test_the_contract_gives_the_teeth_the_pytorch_predictor_gives(run, shared_data):
    from core.teeth.predictor import TeethPredictor

    root, entry, _ = run
    project = Project.open(root)
    ours = load_predictor(model_path(project, entry, onnx=True))
    assert isinstance(ours, TeethInstancePredictor) and ours.provider == "CPUExecutionProvider"
    reference = TeethPredictor(model_path(project, entry), bf16=False)
    image = cv2.imread(str(sorted((root / "images").glob("*.jpg"))[0]), cv2.IMREAD_GRAYSCALE)
    a, b = reference.predict(image), ours.predict(image)
    assert len(b.instances) > 3 and set(np.unique(b.mask).tolist()) <= {0, *FDI_NUMBERS}
    assert (a.mask != b.mask).mean() < 1e-3
    got = sorted((i.value, i.area, round(i.score, 3)) for i in b.instances)
    want = sorted((i.value, i.area, round(i.score, 3)) for i in a.instances)
    assert len(got) == len(want) and sum(g[:2] != w[:2] for g, w in zip(got, want, strict=True)) <= 1
    assert b.stats["teeth"] == len(b.instances) and "area_frac" in b.stats
    from core.infer.quality import assess  # the review queue: the mean tooth score, flags, never trusted

    _, info = assess(ours, image)
    assert info["quality"] == pytest.approx(np.mean([i.score for i in b.instances])) and not info["trusted"]
    assert info["plausible"] == (not info["flags"])
    pano = sorted((shared_data / "mlua_panoramic_caries" / "images").glob("*.png"))[0]   # full size: tiled
    big = cv2.imread(str(pano), cv2.IMREAD_GRAYSCALE)
    out, tiles = teeth_outputs(ours.backend.forward, big, ours.window)     # 3-channel windows through ORT
    assert tiles > 1 and out.shape[1:] == working_size(*big.shape) and np.isfinite(out).all()


def test_the_teeth_branch_runs_without_torch(run):
    root, entry, _ = run
    onnx = model_path(Project.open(root), entry, onnx=True)
    image = sorted((root / "images").glob("*.jpg"))[0]
    code = ("import sys; sys.modules['torch'] = None\n"
            "from core.data.io import read_image\nfrom core.infer.predictor import load_predictor\n"
            f"p = load_predictor({str(onnx)!r}).predict(read_image({str(image)!r}))\n"
            "print(len(p.instances), sorted({i.value for i in p.instances})[:3])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr[-800:]
    assert int(done.stdout.split()[0]) > 3


def test_predict_and_evaluate_cli_run_the_exported_teeth_model(run, tmp_path, capsys):
    root, entry, _ = run
    onnx = model_path(Project.open(root), entry, onnx=True)
    image = sorted((root / "images").glob("*.jpg"))[0]
    assert main(["predict", "--model", str(onnx), "--input", str(image), "--out", str(tmp_path / "out"), "--json"]) == 0
    json.loads(capsys.readouterr().out)
    written = cv2.imread(str(tmp_path / "out" / "masks" / f"{image.stem}.png"), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(written, load_predictor(onnx).predict(cv2.imread(str(image), cv2.IMREAD_GRAYSCALE)).mask)
    assert main(["evaluate", "--model", str(onnx), "--data", str(root), "--split", "val", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == entry.metrics["val_n"] and report["dice"] == pytest.approx(entry.metrics["val_dice"], abs=1e-6)
    assert report["identification_accuracy"] == entry.metrics["id_accuracy"]
    from core.train.evaluate import evaluate  # the app's Evaluation panel: same per-tooth Dice per image

    rows = evaluate(onnx, root, split="val")
    assert rows["n"] == report["n"] and rows["dice"] == pytest.approx(report["dice"], abs=1e-6)


def test_train_on_labels_cli_on_an_fdi_folder(shared_data, tmp_path, capsys):
    copy_pairs(shared_data, "ufba425_teeth", 4, tmp_path / "fdi")
    assert main(["train-on-labels", str(tmp_path / "fdi"), "--minutes", "0.01", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["mode"] == "teeth-instances" and Path(result["onnx"]).exists() and result["val_n"] >= 1
    assert result["model"].endswith("last.pt") and Path(result["model"]).exists()
    assert "id_accuracy" in result and Project.open(tmp_path / "fdi").active_model == result["name"]


def test_a_teeth_head_is_checked_like_any_model(run):
    from core.export.teeth import teeth_meta
    from core.models.describe import FORMAT, VERSION
    from core.models.metadata_schema import check_inference_meta

    config = {"name": "unet", "in_channels": 3, "out_channels": 19, "base_channels": 8, "depth": 4, "norm": "batch"}
    good = teeth_meta(config)
    for change, message in ((("instances", {**good["instances"], "kind": "cats"}), "instances kind"),
                            (("architecture", {**config, "out_channels": 33}), "19 output channels"),
                            (("instances", None), "in_channels must be 1")):
        with pytest.raises(ModelFileError, match=message):
            check_inference_meta({**good, change[0]: change[1]}, "m", FORMAT, VERSION)
    assert not isinstance(load_predictor(model_path(Project.open(run[0]), run[1], onnx=True)), SegmentationPredictor)
