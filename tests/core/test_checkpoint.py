"""Checkpoint files: safetensors + JSON sidecar, refusal of corrupt/foreign files, pretrained loading."""

from __future__ import annotations

import hashlib
import json
import pickle

import pytest
import torch

from core.errors import ModelFileError
from core.models import build_model
from core.models.checkpoint import checkpoint_paths, load_checkpoint, load_pretrained, save_checkpoint

CFG = {"name": "unet", "in_channels": 1, "out_channels": 1, "base_channels": 4}


def saved(tmp_path, cfg=CFG, meta=None):
    model = build_model(cfg)
    save_checkpoint(tmp_path / "ckpt", model, cfg, meta or {"input_size": [128, 128], "fingerprint": "abc"})
    return model


def test_sidecar_describes_everything(tmp_path):
    saved(tmp_path, meta={"input_size": [128, 96], "fingerprint": "abc", "recipe": {"epochs": 3}, "task": "x"})
    weights, sidecar = checkpoint_paths(tmp_path / "ckpt")
    assert weights.is_file() and sidecar.is_file()
    meta = json.loads(sidecar.read_text())
    assert meta["format"] == "toothseg-checkpoint" and meta["version"] == 1
    assert meta["model"] == CFG and meta["input_size"] == [128, 96]
    assert meta["normalization"] == {"mean": 0.5, "std": 0.25}
    assert [c["name"] for c in meta["classes"]] == ["background", "foreground"]
    assert meta["recipe"] == {"epochs": 3} and meta["fingerprint"] == "abc" and meta["task"] == "x"
    assert not list(tmp_path.glob(".*tmp"))


@pytest.mark.parametrize("form", ["ckpt", "ckpt.json", "ckpt.safetensors"])
def test_load_by_any_name(tmp_path, form):
    model = saved(tmp_path)
    loaded, meta = load_checkpoint(tmp_path / form)
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v)
    assert not loaded.training


def test_one_save_under_two_names(tmp_path):
    model = build_model(CFG)
    save_checkpoint(tmp_path / "last", model, CFG, {"fingerprint": "abc"}, also=tmp_path / "best")
    last, best = json.loads((tmp_path / "last.json").read_text()), json.loads((tmp_path / "best.json").read_text())
    assert best["weights_file"] == "best.safetensors" and last["weights_file"] == "last.safetensors"
    assert best["weights_sha256"] == last["weights_sha256"]
    for name in ("last", "best"):
        loaded, _ = load_checkpoint(tmp_path / name)
        assert all(torch.equal(loaded.state_dict()[k], v) for k, v in model.state_dict().items())


def test_corrupt_and_foreign_files_are_refused(tmp_path):
    saved(tmp_path)
    weights, sidecar = checkpoint_paths(tmp_path / "ckpt")
    blob = weights.read_bytes()
    weights.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ModelFileError, match="corrupt or replaced"):
        load_checkpoint(sidecar)
    meta = json.loads(sidecar.read_text())
    meta.pop("weights_sha256")
    sidecar.write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="weights_sha256 must be"):  # no checksum, no load
        load_checkpoint(sidecar)
    meta["weights_sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()  # a truncated file, re-hashed
    sidecar.write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="not a valid safetensors"):
        load_checkpoint(sidecar)
    weights.write_bytes(pickle.dumps({"evil": 1}))  # a pickle is never unpickled
    meta["weights_sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()
    sidecar.write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="not a valid safetensors"):
        load_checkpoint(sidecar)
    sidecar.write_text('{"hello": 1}')
    with pytest.raises(ModelFileError, match="not a ToothSeg checkpoint"):
        load_checkpoint(sidecar)
    sidecar.write_text("{not json")
    with pytest.raises(ModelFileError, match="not a readable checkpoint"):
        load_checkpoint(sidecar)
    with pytest.raises(ModelFileError, match="not found"):
        load_checkpoint(tmp_path / "missing.json")


def test_weights_of_another_architecture_are_refused(tmp_path):
    saved(tmp_path)
    _, sidecar = checkpoint_paths(tmp_path / "ckpt")
    meta = json.loads(sidecar.read_text())
    meta["model"]["base_channels"] = 8
    sidecar.write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="do not fit model"):
        load_checkpoint(sidecar)


def test_load_pretrained_reports_skipped_head(tmp_path):
    """A MIM/reconstruction model (1-channel head) into a 4-class segmentation model."""
    mim = saved(tmp_path, cfg={**CFG, "name": "unet"})
    seg = build_model({**CFG, "out_channels": 4})
    report = load_pretrained(seg, tmp_path / "ckpt")
    skipped = dict(report["skipped"])
    assert set(skipped) == {"head.weight", "head.bias"}
    assert "shape mismatch" in skipped["head.weight"] and "(1, 4, 1, 1)" in skipped["head.weight"]
    assert all(n.startswith(("encoder.", "decoder.")) for n in report["loaded"])
    assert len(report["loaded"]) == len(seg.state_dict()) - 2
    for name in report["loaded"]:
        assert torch.equal(seg.state_dict()[name], mim.state_dict()[name])


def test_load_pretrained_into_a_different_architecture(tmp_path):
    saved(tmp_path)
    scag = build_model({**CFG, "name": "unet_scag"})
    report = load_pretrained(scag, tmp_path / "ckpt", skip_prefixes=("head.",))
    reasons = dict(report["skipped"])
    assert reasons["head.weight"] == "excluded by prefix"
    assert any(r == "missing in checkpoint" for n, r in report["skipped"] if ".skips." in n)
    assert any(n.startswith("encoder.") for n in report["loaded"])
    assert any(n.startswith("decoder.ups.") for n in report["loaded"])
    assert not any(".skips." in n or n.startswith("head.") for n in report["loaded"])
