"""Left-right flips of dental images swap FDI sides (training and test-time augmentation alike)."""

from __future__ import annotations

import json

import albumentations as A
import numpy as np
import pytest
import torch

from core.data.classes import FDI_NUMBERS, fdi_classes, mirror_indices, mirror_value
from core.data.io import read_image, read_mask
from core.infer.predictor import load_predictor
from core.models import build_model
from core.models.checkpoint import save_checkpoint
from core.train.data import label_lut
from core.train.transforms import MirrorFlip, train_transform
from training.cli import main

VALUES = [0, *FDI_NUMBERS]


def test_mirror_values_and_channel_order():
    assert [mirror_value(v) for v in (11, 28, 36, 47, 55, 84)] == [21, 18, 46, 37, 65, 74]
    assert mirror_value(1) == 1 and mirror_value(255) == 255
    perm = mirror_indices(VALUES)
    assert perm is not None and perm[0] == 0
    assert all(VALUES[perm[i]] == mirror_value(v) for i, v in enumerate(VALUES) if v)
    assert [perm[p] for p in perm] == list(range(len(VALUES)))  # an involution
    assert mirror_indices([0, 1]) is None and mirror_indices([0, 1, 2, 3]) is None  # not teeth


def test_a_flipped_panoramic_mask_carries_the_other_side_numbers(shared_data):
    mask_path = sorted((shared_data / "ufba425_teeth" / "masks").iterdir())[0]
    index = label_lut(fdi_classes(), "multiclass")[read_mask(mask_path)]
    assert len(np.unique(index)) > 10
    perm = np.array(mirror_indices(VALUES), np.uint8)
    image = read_image(sorted((shared_data / "ufba425_teeth" / "images").iterdir())[0]).astype(np.float32) / 255
    out = A.Compose([MirrorFlip(perm.tolist(), p=1.0)])(image=image, mask=index)
    assert np.array_equal(out["image"], image[:, ::-1])
    assert np.array_equal(perm[out["mask"][:, ::-1]], index)   # flipping back and swapping back restores it
    tooth_11, tooth_21 = VALUES.index(11), VALUES.index(21)
    assert (out["mask"] == tooth_21).sum() == (index == tooth_11).sum() > 0
    # training on FDI classes flips with the swap; a binary recipe keeps the plain flip
    assert any(isinstance(t, MirrorFlip) for t in train_transform(64, seed=0, mirror=perm.tolist()).transforms)
    assert not any(isinstance(t, MirrorFlip) for t in train_transform(64, seed=0).transforms)


@pytest.fixture(scope="module")
def fdi_model(tmp_path_factory):
    torch.manual_seed(0)
    cfg = {"name": "small_unet", "in_channels": 1, "out_channels": 5, "base_channels": 4}
    values = [0, 11, 12, 21, 22]
    classes = [{"id": i, "name": f"tooth {v}" if v else "background", "value": v} for i, v in enumerate(values)]
    out = tmp_path_factory.mktemp("fdi") / "fdi"
    save_checkpoint(out, build_model(cfg).eval(), cfg, {"classes": classes, "input_size": [64, 128]})
    return out.with_suffix(".json")


def test_tta_averages_the_mirror_image_with_sides_swapped_and_is_flip_equivariant(fdi_model, shared_data):
    image = read_image(sorted((shared_data / "ufba425_teeth" / "images").iterdir())[2])
    plain, tta = load_predictor(fdi_model, backend="torch"), load_predictor(fdi_model, backend="torch", tta=True)
    assert tta.mirror == [0, 3, 4, 1, 2]
    x = tta.preprocess(image)
    once = plain.forward(x)
    mirrored = plain.forward(np.ascontiguousarray(x[:, :, ::-1]))[:, :, ::-1][[0, 3, 4, 1, 2]]
    assert np.allclose(tta.forward(x), (once + mirrored) / 2, atol=1e-5)
    # averaged with its mirror image, the prediction of a mirrored panoramic is the mirrored prediction
    flipped = tta.forward(np.ascontiguousarray(x[:, :, ::-1]))
    assert np.allclose(flipped[:, :, ::-1][[0, 3, 4, 1, 2]], tta.forward(x), atol=1e-4)
    assert not np.allclose(mirrored, once, atol=1e-3)  # the network alone is not symmetric


def test_cli_evaluate_and_predict_with_tta(shared_data, tmp_path_factory, tmp_path, capsys):
    from tests.core.test_train_support import make_subset
    from tests.core.tiny_trained import cached_tiny

    model = str(cached_tiny(shared_data, tmp_path_factory.getbasetemp()))
    data = make_subset(shared_data / "tg3k_thyroid", tmp_path / "thy", 12)
    assert main(["evaluate", "--model", model, "--data", str(data), "--split", "all", "--json"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert main(["evaluate", "--model", model, "--data", str(data), "--split", "all", "--tta", "--json"]) == 0
    tta = json.loads(capsys.readouterr().out)
    assert tta["tta"] and not plain["tta"] and tta["n"] == plain["n"] == 12
    assert 0 < plain["dice"] < 1 and abs(tta["dice"] - plain["dice"]) > 1e-4
    assert main(["predict", "--model", model, "--input", str(data / "images"), "--out", str(tmp_path / "pred"),
                 "--tta", "--json"]) == 0
    printed = capsys.readouterr()
    summary = json.loads(printed.out)
    assert summary["written"] == 12 and (tmp_path / "pred" / "masks").is_dir()
    assert "flip test-time augmentation" in printed.err
