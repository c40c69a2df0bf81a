"""One shared test class every registered architecture must pass (segmentation_models_pytorch habit)."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from core.data.io import read_image, to_unit_float
from core.errors import ModelFileError
from core.export.graph import export_graph
from core.models import build_model, model_names
from core.models.checkpoint import load_checkpoint, save_checkpoint

torch.set_num_threads(1)


def tiny(name: str, **extra) -> dict:
    cfg = {"name": name, "in_channels": 1, "out_channels": 1, "base_channels": 4}
    cfg.update(extra)
    return cfg


@pytest.fixture(scope="module")
def real_batch(shared_data) -> torch.Tensor:
    """Two real 67x93 crops (odd size) from tg3k ultrasound frames, normalised like training."""
    files = sorted((shared_data / "tg3k_thyroid" / "images").glob("*.jpg"))[:2]
    crops = [to_unit_float(read_image(f))[40:107, 60:153] for f in files]
    return torch.from_numpy((np.stack(crops)[:, None] - 0.5) / 0.25)


@pytest.mark.parametrize("name", model_names())
class TestEveryModel:
    def test_forward_backward_odd_size(self, name, real_batch):
        model = build_model(tiny(name)).train()
        out = model(real_batch)
        assert out.shape == (2, 1, 67, 93)
        out.mean().backward()
        grads = [p.grad for p in model.parameters() if p.requires_grad]
        assert all(g is not None for g in grads)
        assert sum(float(g.abs().sum()) for g in grads) > 0

    def test_multiclass_head_and_instance_norm(self, name, real_batch):
        model = build_model(tiny(name, out_channels=5, norm="instance")).eval()
        with torch.no_grad():
            out = model(real_batch[:1])
        assert out.shape == (1, 5, 67, 93)
        assert torch.isfinite(out).all()

    def test_parts_cover_every_tensor(self, name):
        model = build_model(tiny(name))
        parts = model.part_names()
        assert set(parts) == {"encoder", "decoder", "head"}
        assert all(parts[p] for p in parts)
        assert sorted(sum(parts.values(), [])) == sorted(model.state_dict())

    def test_checkpoint_round_trip(self, name, real_batch, tmp_path):
        cfg = tiny(name, out_channels=2)
        model = build_model(cfg).eval()
        with torch.no_grad():
            for p in model.parameters():  # make the weights differ from a fresh init
                p.add_(0.01 * torch.randn_like(p))
            ref = model(real_batch)
        sidecar = save_checkpoint(tmp_path / "m", model, cfg, {"classes": ["bg", "tooth"], "metrics": {"dice": 0.5}})
        loaded, meta = load_checkpoint(sidecar)
        with torch.no_grad():
            assert torch.equal(loaded(real_batch), ref)
        assert meta["model"] == cfg
        assert [c["name"] for c in meta["classes"]] == ["bg", "tooth"]
        assert meta["metrics"] == {"dice": 0.5}

    def test_onnx_export_dynamic_shapes(self, name, real_batch):
        model = build_model(tiny(name, out_channels=3)).eval()
        session = ort.InferenceSession(export_graph(model, real_batch[:1]), providers=["CPUExecutionProvider"])
        for x in (real_batch, real_batch[:1, :, :40, :70]):
            with torch.no_grad():
                ref = model(x).numpy()
            got = session.run(None, {"image": x.numpy()})[0]
            assert got.shape == ref.shape
            assert np.abs(got - ref).max() <= 1e-4


def test_unknown_model_and_bad_kwargs_are_clear():
    with pytest.raises(ModelFileError, match="unknown model 'vit'"):
        build_model({"name": "vit"})
    with pytest.raises(ModelFileError, match="rejects its config"):
        build_model({"name": "unet", "colour": "red"})


def test_unet_matches_the_seed_layout():
    model = build_model({"name": "unet", "base_channels": 16})
    assert len(model.encoder.downs) == 4 and len(model.decoder.ups) == 4
    assert model.head.kernel_size == (1, 1)
    small = build_model({"name": "small_unet"})
    assert len(small.encoder.downs) == 3
    assert sum(p.numel() for p in small.parameters()) < sum(p.numel() for p in model.parameters()) / 10
