"""A recipe's pre-processing (the bilateral FBF step) travels with the model: the exported ONNX file
applies it in the app exactly as evaluation applies it to the checkpoint."""

from __future__ import annotations

import json

import numpy as np
import onnx

from core.data.masks import load_image
from core.export.onnx import export_onnx
from core.infer.predictor import load_predictor
from core.train.checkpoint_model import CheckpointModel
from core.train.data import open_dataset
from core.train.loop import run_training
from tests.core.test_train_support import make_subset, tiny


def test_bilateral_recipe_is_applied_by_the_exported_model(shared_data, tmp_path):
    root = make_subset(shared_data / "tg3k_thyroid", tmp_path / "thyroid", 8)
    run_training(tiny("finetune", epochs=2, bilateral=True), root, tmp_path / "run")
    ckpt = tmp_path / "run" / "best.json"
    out = export_onnx(ckpt, tmp_path / "m.onnx", images=root)
    props = {p.key: p.value for p in onnx.load(str(tmp_path / "m.onnx")).metadata_props}
    assert json.loads(props["preprocess"]) == {"bilateral": True}
    assert out["max_abs_diff"] <= 1e-4 and out["parity_images"] >= 1   # checked on real frames before writing

    image = load_image(open_dataset(root).index.labeled()[0])
    app = load_predictor(tmp_path / "m.onnx")
    logits = app.forward(app.preprocess(image))
    app_probs = 1 / (1 + np.exp(-logits))
    eval_probs = CheckpointModel(ckpt).probabilities(image)
    assert np.abs(app_probs - eval_probs).max() < 1e-4
    filtered = app.preprocess(image)
    app.meta["preprocess"] = {"bilateral": False}  # what the app fed the network before the step was recorded
    assert np.abs(app.preprocess(image) - filtered).mean() > 0.01
