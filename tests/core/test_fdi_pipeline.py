"""Multi-class FDI teeth end to end: label maps -> 32-class model -> ONNX with its class table ->
predictions in FDI numbers with the FDI palette -> pixel and instance evaluation from the CLI."""

from __future__ import annotations

import json

import numpy as np
import onnx

from core.data.classes import FDI_NUMBERS, fdi_classes
from core.data.masks import load_image
from core.export.onnx import export_onnx
from core.infer.predictor import load_predictor
from core.train.data import open_dataset
from core.train.loop import run_training
from tests.core.test_train_support import make_subset, tiny
from training.cli import main


def test_fdi_model_round_trip_and_instance_map(shared_data, tmp_path, capsys):
    root = make_subset(shared_data / "ufba425_teeth", tmp_path / "teeth", 8)
    run_training(tiny("finetune", epochs=2, labels="multiclass"), root, tmp_path / "run")
    ckpt = tmp_path / "run" / "best.json"
    sidecar = json.loads(ckpt.read_text())
    values = [c.get("value", c["id"]) for c in sidecar["classes"]]
    assert values == [0, *FDI_NUMBERS]  # background + 32 teeth, contiguous channels mapped to FDI values

    out = tmp_path / "teeth.onnx"
    export_onnx(ckpt, out, images=root)
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    classes = json.loads(meta["classes"]) if "classes" in meta else json.loads(meta["toothseg"])["classes"]
    palette = {c.value: [int(c.color[i : i + 2], 16) for i in (1, 3, 5)] for c in fdi_classes()}
    assert {int(c["value"]): list(c["color"]) for c in classes if int(c["value"])} == palette

    predictor = load_predictor(out)
    sample = open_dataset(root).index.labeled()[0]
    pred = predictor.predict(load_image(sample))
    assert pred.mask.shape == (512, 512)
    assert set(np.unique(pred.mask).tolist()) <= {0, *FDI_NUMBERS}

    assert main(["evaluate", "--model", str(ckpt), "--data", str(root), "--split", "all", "--instances",
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    inst = report["instances"]
    assert report["n"] == 8 and not report["binary"] and len(report["per_class"]) == 32
    assert 0.0 <= inst["map"] <= inst["map50"] <= 1.0 and inst["gt_instances"] >= 8 * 20
    assert inst["n"] == 8 and set(inst["per_class"]) <= {str(v) for v in FDI_NUMBERS}
    assert inst["true_teeth"] == inst["gt_instances"] and inst["matched_teeth"] <= inst["true_teeth"]
    assert inst["identification_accuracy"] is not None and 0.0 <= inst["identification_accuracy"] <= 1.0
    assert main(["evaluate", "--model", str(ckpt), "--data", str(root), "--split", "all", "--instances"]) == 0
    assert "identification accuracy" in capsys.readouterr().out
