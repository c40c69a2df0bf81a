"""The box tool tuned on the user's labels (issue 17), on nine real thyroid frames with a tiny budget: the
tuned decoder is stored in the project with its held-out figures, embeddings are computed once (a second
run encodes nothing), `toothseg prompt` on the folder uses the tuned decoder, a corrupt one gives a clear
warning and the shipped decoder, and a tuning that does not beat the shipped decoder is not kept."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from core.data.io import read_image
from core.prompt import store, tune_on_labels
from tests.litemedsam import onnx_dir

SLIM = """
import sys
sys.modules["torch"] = None                    # the slim build has no PyTorch
from core.prompt.session import PromptSegmenter
seg = PromptSegmenter(root=sys.argv[1], threads=1)
print(seg.folder, seg.threshold)
"""
N = 9   # 3 held out (every third image: no project splits yet), 6 to tune on


@pytest.fixture
def thyroid9(shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("TOOTHSEG_PROMPT_MODEL_DIR", str(onnx_dir()))
    monkeypatch.setenv("TOOTHSEG_USER_DATA", str(tmp_path / "user"))
    src = shared_data / "tg3k_thyroid"
    names = sorted(p.name for p in (src / "images").iterdir())
    data = tmp_path / "thyroid"
    for sub in ("images", "masks"):
        (data / sub).mkdir(parents=True)
        for name in names[:: len(names) // N][:N]:   # frames spread over the clips
            shutil.copy(src / sub / name, data / sub / name)
    return data


def test_tuned_decoder_is_stored_used_and_a_corrupt_one_falls_back(thyroid9, capsys, monkeypatch):
    import itertools
    import time

    from training.cli import main

    wall = itertools.count(0.0, 1000.0)   # a loaded machine: 1000 wall seconds pass between any two looks at the
    with monkeypatch.context() as m:      # clock; the CPU-second cap still lets every encoding and step happen
        m.setattr(time, "monotonic", lambda: next(wall))
        r = tune_on_labels.tune_on_labels(thyroid9, budget_s=900, steps=4, min_gain=-1.0,   # keep whatever it scores
                                          all_labels=True)                                  # 4 steps end it
    assert r["steps_planned"] == 4 and 0 < r["cpu_s"] < 900
    assert r["kept"] and r["decoder"] == "tuned" and r["n_heldout"] >= tune_on_labels.MIN_HELDOUT
    assert r["heldout_images"] == 3 and r["n_train"] >= 6 and r["steps"] == 4
    assert r["final_on_all_labels"] and r["final_steps"] == 4   # kept: trained again on every label
    assert 0.3 < r["base_dice"] <= 1 and 0.3 < r["tuned_dice"] <= 1
    folder = store.project_folder(thyroid9)
    manifest = store.check_dir(folder)
    assert manifest["finetuned"]["tuned_dice"] == r["tuned_dice"]
    assert manifest["decoder_sha256"] != store.check_dir(onnx_dir())["decoder_sha256"]
    assert tune_on_labels.last_result(thyroid9)["message"] == r["message"]
    cached = list((folder.parent / tune_on_labels.EMB_FOLDER).glob("*.npy"))
    assert len(cached) == r["encodings"] == N                    # one whole-frame embedding per image

    image = sorted((thyroid9 / "images").iterdir())[2]
    labels = (read_image(thyroid9 / "masks" / image.name) > 127).astype(np.uint8)
    _, parts, stats, _ = cv2.connectedComponentsWithStats(labels)
    truth = parts == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))    # one lobe
    ys, xs = np.nonzero(truth)
    box = [str(v) for v in (xs.min() - 5, ys.min() - 5, xs.max() + 5, ys.max() + 5)]
    out = thyroid9.parent / "m.png"
    assert main(["prompt", str(image), "--box", *box, "--out", str(out), "--json"]) == 0   # project found above
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["decoder"] == "tuned on the folder's labels" and summary["models"] == str(folder)
    assert "warning" not in summary

    slim = subprocess.run([sys.executable, "-c", SLIM, str(thyroid9)], capture_output=True, text=True, timeout=300)
    assert slim.returncode == 0, slim.stderr
    assert slim.stdout.strip().splitlines()[-1] == f"{folder} {r['tuned_threshold']}"   # no torch: the tuned pair runs

    with open(folder / store.DECODER_FILE, "r+b") as fh:               # a corrupt project decoder
        fh.seek(4096)
        fh.write(b"\xff" * 8)
    assert main(["prompt", str(image), "--box", *box, "--out", str(out), "--json", "--data", str(thyroid9)]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert summary["decoder"] == "shipped (project decoder unusable)" and summary["models"] == str(onnx_dir())
    assert "SHA-256" in summary["warning"] and "using the shipped decoder" in summary["warning"]
    assert captured.err.strip().splitlines()[0].startswith("warning: LiteMedSAM")
    written = read_image(out) > 127
    assert 2 * (written & truth).sum() / (written.sum() + truth.sum()) > 0.7   # the shipped decoder's mask

    # a second run reuses every embedding; a tuning that does not beat the shipped decoder is not kept
    again = tune_on_labels.tune_on_labels(thyroid9, budget_s=900, steps=1, min_gain=1.0)
    assert again["encodings"] == 0 and not again["kept"] and again["decoder"] == "shipped"
    assert not (folder / store.MANIFEST_FILE).exists() and "shipped decoder stays" in again["message"]
    assert store.locate(convert_if_missing=False, root=thyroid9)[0] == onnx_dir()


def test_too_few_labels_or_no_model_skip_quietly(thyroid9, tmp_path, monkeypatch):
    for extra in sorted((thyroid9 / "masks").iterdir())[1:]:
        extra.unlink()
    r = tune_on_labels.tune_on_labels(thyroid9, budget_s=30, steps=1)
    assert not r["kept"] and r["decoder"] == "unchanged" and "at least two labeled images" in r["skipped"]
    assert not store.project_folder(thyroid9).exists()
    monkeypatch.setenv("TOOTHSEG_PROMPT_MODEL_DIR", str(tmp_path / "none"))   # the app's case: box tool never used
    monkeypatch.setattr(store, "cache_dir", lambda: tmp_path / "no-cache")
    r = tune_on_labels.tune_on_labels(thyroid9, convert=False)
    assert r["decoder"] == "unchanged" and "not set up yet" in r["skipped"] and not (tmp_path / "no-cache").exists()
