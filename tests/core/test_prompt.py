"""LiteMedSAM box prompts on real frames: the checkpoint's SHA-256 gate, the ONNX pair's integrity check,
a thyroid lobe from its box (ONNX Runtime, torch blocked like the slim build), clicks reusing the cached
embedding, and the `toothseg prompt` command line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from core.data.io import read_image, read_mask
from core.errors import ModelFileError, ToothSegError
from core.prompt import geometry, store, weights
from tests.litemedsam import onnx_dir

FRAME = "0061.jpg"


def lobe_and_box(shared_data, name=FRAME):
    truth = read_mask(shared_data / "tg3k_thyroid" / "masks" / name) > 0
    _, lab, stats, _ = cv2.connectedComponentsWithStats(truth.astype(np.uint8))
    lobe = lab == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    ys, xs = np.nonzero(lobe)
    return lobe, (int(xs.min()) - 5, int(ys.min()) - 5, int(xs.max()) + 5, int(ys.max()) + 5)


def dice(a, b):
    return 2 * float((a & b).sum()) / float(a.sum() + b.sum())


def test_checkpoint_is_verified_against_the_declared_sha256(tmp_path):
    real = weights.find_checkpoint()
    assert weights.verify_checkpoint(real) == real
    bad = tmp_path / "lite_medsam.pth"
    data = bytearray(real.read_bytes())
    data[len(data) // 2] ^= 0xFF                                   # one flipped byte, same size
    bad.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="SHA-256"):
        weights.verify_checkpoint(bad)
    bad.write_bytes(bytes(data[:1000]))
    with pytest.raises(ModelFileError, match="expected 39370479"):
        weights.verify_checkpoint(bad)


def test_corrupt_or_missing_onnx_pair_is_refused(tmp_path, monkeypatch):
    good = onnx_dir()
    assert store.check_dir(good)["checkpoint_sha256"] == weights.CHECKPOINT_SHA256
    copy = tmp_path / "pair"
    shutil.copytree(good, copy)
    with open(copy / store.DECODER_FILE, "r+b") as fh:
        fh.seek(5000)
        fh.write(b"\0\0\0\0")
    with pytest.raises(ModelFileError, match="SHA-256"):
        store.check_dir(copy)
    monkeypatch.setenv("TOOTHSEG_PROMPT_MODEL_DIR", str(tmp_path / "nothing"))
    with pytest.raises(ModelFileError, match="not found"):
        store.locate(convert_if_missing=False)


def test_geometry_crop_and_box_checks():
    assert geometry.choose_crop((10, 10, 200, 150), (256, 256)) == geometry.Crop(0, 0, 256, 256)
    crop = geometry.choose_crop((1000, 300, 1060, 420), (1435, 2943))   # a tooth on a panoramic
    assert crop.size == (360, 360) and crop.x0 <= 1000 and crop.x1 >= 1060
    with pytest.raises(ToothSegError, match="no area"):
        geometry.clamp_box((300, 300, 400, 400), (256, 256))


SLIM_SCRIPT = """
import sys, json
sys.modules["torch"] = None                    # the slim build has no PyTorch
from core.data.io import read_image
from core.prompt.session import PromptSegmenter
seg = PromptSegmenter(sys.argv[1], threads=2)
image = read_image(sys.argv[2])
box = [float(v) for v in sys.argv[3:7]]
first = seg.segment(image, box, key="f")
again = seg.segment(image, box, [(box[0] + 3, box[1] + 3, 0)], key="f")
import numpy as np
np.save(sys.argv[7], first.mask)
print(json.dumps({"enc": first.encode_s, "enc2": again.encode_s, "iou": first.iou}))
"""


def test_thyroid_lobe_from_its_box_without_torch(shared_data, tmp_path):
    lobe, box = lobe_and_box(shared_data)
    out = tmp_path / "mask.npy"
    run = subprocess.run([sys.executable, "-c", SLIM_SCRIPT, str(onnx_dir()),
                          str(shared_data / "tg3k_thyroid" / "images" / FRAME), *map(str, box), str(out)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    info = json.loads(run.stdout.strip().splitlines()[-1])
    assert info["enc"] > 0 and info["enc2"] == 0.0                 # the click reused the cached embedding
    mask = np.load(out)
    assert mask.shape == lobe.shape
    assert dice(mask, lobe) > 0.8
    x0, y0, x1, y1 = box
    assert not mask[:, : max(0, x0 - 3)].any() and not mask[: max(0, y0 - 3)].any()   # nothing far outside


def test_cli_prompt_writes_the_mask_and_one_json_object(shared_data, tmp_path, monkeypatch, capsys):
    from training.cli import main

    monkeypatch.setenv("TOOTHSEG_PROMPT_MODEL_DIR", str(onnx_dir()))
    lobe, box = lobe_and_box(shared_data)
    image = shared_data / "tg3k_thyroid" / "images" / FRAME
    out = tmp_path / "lobe.png"
    assert main(["prompt", str(image), "--box", *map(str, box), "--out", str(out), "--json"]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 1
    summary = json.loads(printed[0])
    assert summary["out"] == str(out) and summary["area_px"] > 0 and summary["model"] == "LiteMedSAM"
    written = read_image(out) > 127
    assert dice(written, lobe) > 0.8
    assert int(written.sum()) == summary["area_px"]

    bad = tmp_path / "none.png"
    assert main(["prompt", str(image), "--box", "400", "400", "500", "500", "--out", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no area" in err[0] and not bad.exists()


def test_decoder_finetune_writes_a_usable_model_folder(shared_data, tmp_path, monkeypatch, capsys):
    """A few steps on two real thyroid frames: a verified folder whose decoder changed, in the project (so
    the box tool uses it for this folder), usable by prompt --models."""
    from training.cli import main

    monkeypatch.setenv("TOOTHSEG_PROMPT_MODEL_DIR", str(onnx_dir()))
    data = tmp_path / "thyroid"
    for sub in ("images", "masks"):
        (data / sub).mkdir(parents=True)
        for name in ("0061.jpg", "0070.jpg"):
            shutil.copy(shared_data / "tg3k_thyroid" / sub / name, data / sub / name)
    assert main(["prompt-finetune", "--data", str(data), "--steps", "3", "--json"]) == 0
    out = store.project_folder(data)                  # the project's own pair, which the box tool prefers
    assert store.locate(convert_if_missing=False, root=data)[0] == out
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["images"] == 2 and summary["structures"] >= 2 and summary["steps"] == 3
    manifest = store.check_dir(out)
    assert manifest["decoder_sha256"] != store.check_dir(onnx_dir())["decoder_sha256"]
    lobe, box = lobe_and_box(shared_data)
    mask = tmp_path / "m.png"
    assert main(["prompt", str(shared_data / "tg3k_thyroid" / "images" / FRAME), "--box", *map(str, box),
                 "--out", str(mask), "--models", str(out)]) == 0
    assert dice(read_image(mask) > 127, lobe) > 0.8
