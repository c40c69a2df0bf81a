"""`toothseg check|stats|index|split` on the real datasets and on a corpus of bad input."""

from __future__ import annotations

import json
import os
import shutil
import struct
import zlib

import cv2
import numpy as np
import pytest
import tifffile

from training.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(root):
    return sorted((str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*"))


@pytest.mark.parametrize("dataset, labeled, unlabeled", [
    ("ufba425_teeth", 318, 0), ("tg3k_thyroid", 538, 0),
    ("mlua_panoramic_caries", 30, 0), ("isbi2012_em_membrane", 20, 30),
])
def test_check_real_datasets_json(shared_data, capsys, dataset, labeled, unlabeled):
    before = snapshot(shared_data / dataset)
    code, out, _ = run(capsys, "check", str(shared_data / dataset), "--json")
    result = json.loads(out)
    assert code == 0
    assert result["layout"] == "paired"
    assert (result["labeled"], result["unlabeled"]) == (labeled, unlabeled)
    assert result["problems"] == []
    assert snapshot(shared_data / dataset) == before


def test_stats_per_class_on_fdi_masks(shared_data, capsys):
    code, out, _ = run(capsys, "stats", str(shared_data / "ufba425_teeth"), "--json")
    stats = json.loads(out)
    assert code == 0 and stats["masks"] == 318 and stats["empty_masks"] == 0
    assert len(stats["classes"]) == 33  # foreground + 32 FDI teeth
    fg = stats["classes"]["foreground"]
    assert 0.1 < fg["area_frac_mean"] < 0.3 and 0 <= fg["rel_y_min"] < fg["rel_y_max"] <= 1
    upper, lower = stats["classes"]["11"], stats["classes"]["41"]
    assert upper["rel_y_min"] < lower["rel_y_min"]  # upper incisors sit above lower ones


def _bad_corpus(shared_data, root):
    """A paired folder with one good pair and every kind of bad input the issue lists."""
    img, msk = root / "images", root / "masks"
    img.mkdir(parents=True)
    msk.mkdir()
    src = shared_data / "isbi2012_em_membrane"
    shutil.copy(src / "images/0.png", img / "good.png")
    shutil.copy(src / "masks/0.png", msk / "good.png")
    data = (src / "images/1.png").read_bytes()
    (img / "truncated.png").write_bytes(data[: len(data) // 3])
    shutil.copy(src / "masks/1.png", msk / "truncated.png")
    (img / "zero.png").write_bytes(b"")
    ihdr = struct.pack(">IIBBBBB", 40000, 40000, 8, 0, 0, 0, 0)
    (img / "bomb.png").write_bytes(b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr
                                   + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr)))
    from PIL import Image

    Image.open(src / "images/2.png").convert("CMYK").save(img / "cmyk.jpg")
    shutil.copy(src / "masks/2.png", msk / "cmyk.png")
    rgba = cv2.cvtColor(cv2.imread(str(src / "images/3.png")), cv2.COLOR_BGR2BGRA)
    cv2.imwrite(str(img / "rgba.png"), rgba)
    shutil.copy(src / "masks/3.png", msk / "rgba.png")
    tifffile.imwrite(img / "deep.tif", cv2.imread(str(src / "images/4.png"), 0).astype(np.uint16) * 257)
    shutil.copy(src / "masks/4.png", msk / "deep.png")
    shutil.copy(src / "images/5.png", img / "small_mask.png")
    cv2.imwrite(str(msk / "small_mask.png"), cv2.imread(str(src / "masks/5.png"), 0)[:256, :256])
    shutil.copy(src / "images/6.png", img / "stray.png")
    stray = cv2.imread(str(src / "masks/6.png"), 0)
    stray[:10, :10] = 128
    cv2.imwrite(str(msk / "stray.png"), stray)
    shutil.copy(src / "images/7.png", img / "empty_mask.png")
    cv2.imwrite(str(msk / "empty_mask.png"), np.zeros((512, 512), np.uint8))
    shutil.copy(src / "masks/8.png", msk / "no_image.png")
    shutil.copy(src / "images/9.png", img / "no_mask.png")


def test_bad_input_corpus_is_reported_and_nothing_is_written(shared_data, tmp_path, capsys):
    _bad_corpus(shared_data, tmp_path)
    before = snapshot(tmp_path)
    code, out, err = run(capsys, "check", str(tmp_path), "--json")
    result = json.loads(out)
    assert code == 1  # errors present
    kinds = {(os.path.basename(p["path"]), p["kind"]) for p in result["problems"]}
    assert ("truncated.png", "unreadable_image") in kinds
    assert ("zero.png", "unreadable_image") in kinds
    assert ("bomb.png", "unreadable_image") in kinds
    assert ("small_mask.png", "size_mismatch") in kinds
    assert ("stray.png", "unexpected_values") in kinds
    assert ("empty_mask.png", "empty_mask") in kinds
    assert ("no_image.png", "mask_without_image") in kinds
    assert ("no_mask.png", "image_without_mask") in kinds
    flagged = {name for name, _ in kinds}
    assert not flagged & {"good.png", "cmyk.jpg", "rgba.png", "deep.tif"}  # valid formats are read fine
    messages = {os.path.basename(p["path"]): p["message"] for p in result["problems"]}
    assert "exceeds the limit" in messages["bomb.png"] and "empty file" in messages["zero.png"]
    assert "mask is 256x256, image is 512x512" in messages["small_mask.png"]
    assert snapshot(tmp_path) == before


def test_user_errors_are_one_line_without_traceback(tmp_path, capsys):
    code, out, err = run(capsys, "check", str(tmp_path / "missing"))
    assert code == 2 and out == "" and err.strip().count("\n") == 0 and "folder not found" in err
    (tmp_path / "notes.txt").write_text("x")
    code, _, err = run(capsys, "check", str(tmp_path))
    assert code == 2 and "no known dataset layout" in err and "Traceback" not in err
    pdir = tmp_path / "data" / ".toothseg"
    shutil.copytree(tmp_path, tmp_path / "data", ignore=shutil.ignore_patterns("data"))
    (tmp_path / "data" / "a.png").write_bytes(cv2.imencode(".png", np.zeros((4, 4), np.uint8))[1].tobytes())
    pdir.mkdir()
    (pdir / "project.json").write_text("{broken")
    before = snapshot(tmp_path / "data")
    code, _, err = run(capsys, "split", str(tmp_path / "data"))
    assert code == 2 and "corrupt" in err and snapshot(tmp_path / "data") == before


def test_index_csv_and_split_persist(shared_data, tmp_path, capsys):
    from tests.core.helpers import copy_pairs

    copy_pairs(shared_data, "ufba425_teeth", 20, tmp_path)
    code, _, _ = run(capsys, "index", str(tmp_path), "--csv", str(tmp_path / "index.csv"))
    rows = (tmp_path / "index.csv").read_text().splitlines()
    assert code == 0 and rows[0].startswith("rel_path,age_group,label_status,is_mask,pair_id") and len(rows) == 41
    code, out, _ = run(capsys, "split", str(tmp_path), "--seed", "7", "--ratios", "0.6", "0.2", "0.2", "--json")
    result = json.loads(out)
    assert code == 0 and result["train"] + result["val"] + result["test"] == 20 and result["val"] >= 2
    saved = json.loads((tmp_path / ".toothseg/project.json").read_text())
    assert saved["split_seed"] == 7 and len(saved["splits"]) == 20
    code, _, err = run(capsys, "split", str(tmp_path), "--ratios", "1", "-1", "0")
    assert code == 2 and "ratios" in err
