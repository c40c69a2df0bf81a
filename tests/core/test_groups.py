"""Acquisition groups (DICOM, layout, names, id sequences cut by content, content clusters), splits by
group, and the messages and fallbacks for folders where grouping finds one group or none."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import numpy as np

from core.data.groups import Grouping, ensure_groups, find_groups, name_parts, stored_groups
from core.data.io import read_image
from core.data.layouts import load_index
from core.data.project import Project
from core.data.splits import make_splits
from tests.core.helpers import make_sts_tree

TG3K = "tg3k_thyroid"


def thyroid_folder(shared_data: Path, dest: Path, ids: list[int], rename=None, masks: bool = True) -> Path:
    """TG3K frames by id (the ones that exist in the visible set), optionally renamed."""
    src = shared_data / TG3K
    (dest / "images").mkdir(parents=True)
    (dest / "masks").mkdir()
    for i in ids:
        name = f"{i:04d}.jpg"
        if not (src / "images" / name).exists():
            continue
        new = rename(i) if rename else name
        shutil.copy(src / "images" / name, dest / "images" / new)
        if masks:
            shutil.copy(src / "masks" / name, dest / "masks" / new)
    return dest


def test_name_parts():
    assert name_parts("patient12_frame003") == ("patient12_frame", 3)
    assert name_parts("unlabeled/0042") == ("", 42)
    assert name_parts("scan") == ("scan", None)


def test_id_sequence_is_cut_where_the_clip_changes(shared_data, tmp_path):
    # frames 200-300 hold two clip changes (after 240 and after 270, RMS thumbnail distance > 1 there)
    root = thyroid_folder(shared_data, tmp_path / "f", list(range(200, 301)))
    grouping = find_groups(load_index(root))
    g = grouping.groups
    assert grouping.method == "sequence" and not grouping.message
    assert g["0203"] == g["0240"] and g["0246"] == g["0270"] and g["0274"] == g["0299"]
    assert len({g["0240"], g["0246"], g["0274"]}) == 3 and grouping.count == 3


def test_name_prefixes_are_groups(shared_data, tmp_path):
    root = thyroid_folder(shared_data, tmp_path / "f", list(range(0, 60)) + list(range(449, 520)),
                          rename=lambda i: f"patient{1 if i < 300 else 2}_frame{i:03d}.jpg")
    grouping = find_groups(load_index(root))
    assert grouping.method == "names"
    assert set(grouping.groups.values()) == {"name:patient1_frame", "name:patient2_frame"}


def test_sts2d_pairs_and_dicom_patients(shared_data, tmp_path):
    tree = make_sts_tree(shared_data, tmp_path / "sts")
    grouping = find_groups(load_index(tree))
    assert grouping.sources == {"layout": len(load_index(tree))}
    assert all(v.startswith("layout:") for v in grouping.groups.values())

    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    folder = tmp_path / "dicom"
    folder.mkdir()
    img = read_image(shared_data / TG3K / "images" / "0000.jpg")[:64, :64].astype(np.uint16)
    for k in range(6):
        meta = FileMetaDataset()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
        meta.MediaStorageSOPInstanceUID = generate_uid()
        ds = FileDataset(str(folder / f"x{k}.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.Rows, ds.Columns = img.shape
        ds.SamplesPerPixel, ds.BitsAllocated, ds.BitsStored, ds.HighBit = 1, 16, 16, 15
        ds.PixelRepresentation, ds.PhotometricInterpretation = 0, "MONOCHROME2"
        ds.PatientID = f"P{k % 2}"
        ds.PixelData = img.tobytes()
        ds.save_as(folder / f"x{k}.dcm", enforce_file_format=True)
    grouping = find_groups(load_index(folder))
    assert grouping.method == "dicom"
    assert grouping.groups["x0"] == grouping.groups["x2"] == "patient:P0" != grouping.groups["x1"]


def test_splits_by_group_and_groups_stored_in_project(shared_data, tmp_path):
    root = thyroid_folder(shared_data, tmp_path / "f", list(range(0, 700)))
    project = Project.open(root)
    index = project.apply(load_index(root))
    grouping = ensure_groups(project, index)
    assert grouping.count >= 4
    splits = make_splits(index, ratios=(0.6, 0.4, 0.0), seed=0)
    by_split: dict[str, set[str]] = {}
    for s in index:
        by_split.setdefault(splits[s.id], set()).add(s.group)
    assert by_split["val"] and not by_split["val"] & by_split["train"]  # no clip on both sides
    project.save()
    again = stored_groups(Project.open(root))
    assert isinstance(again, Grouping) and again.groups == grouping.groups and again.method == "sequence"


def test_one_group_only_gets_a_message_and_contiguous_blocks(shared_data, tmp_path):
    root = thyroid_folder(shared_data, tmp_path / "f", list(range(0, 120)))  # one clip (0000-0240)
    index = load_index(root)
    grouping = find_groups(index)
    assert "one group only" in grouping.message and "contiguous blocks" in grouping.message
    assert Counter(grouping.groups.values()).keys() == {f"block:{k}" for k in range(1, 6)}
    ordered = sorted(grouping.groups)
    assert grouping.groups[ordered[0]] == "block:1" and grouping.groups[ordered[-1]] == "block:5"
    for s in index:
        s.group = grouping.groups[s.id]
    splits = make_splits(index, ratios=(0.8, 0.2, 0.0), seed=0, dedupe=False)
    assert "val" in splits.values() and "train" in splits.values()


def test_every_image_alone_gets_a_message(shared_data, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    picks = [("tg3k_thyroid", "0000.jpg"), ("tg3k_thyroid", "1018.jpg"), ("ufba425_teeth", "cate1-00002.jpg"),
             ("isbi2012_em_membrane", "0.png"), ("mlua_panoramic_caries", "360.png")]
    for k, (ds, name) in enumerate(picks):
        shutil.copy(shared_data / ds / "images" / name, folder / f"{'abcde'[k]}scan{Path(name).suffix}")
    grouping = find_groups(load_index(folder))
    assert grouping.sources == {"content": 5} and grouping.count == 5
    assert "no two images share" in grouping.message


def test_cli_groups_and_split_say_when_grouping_finds_one_group(shared_data, tmp_path, capsys):
    import json

    from training.cli import main

    root = thyroid_folder(shared_data, tmp_path / "f", list(range(0, 120)))
    assert main(["groups", str(root), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["groups"] == 5 and "one group only" in out["message"] and len(out["of"]) == 26
    assert main(["split", str(root), "--ratios", "0.8", "0.2", "0", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["val"] > 0 and out["train"] > 0 and "one group only" in out["groups_note"]
    assert stored_groups(Project.open(root)).count == 5


def test_train_on_labels_cli_on_one_clip_falls_back_and_reports_an_interval(shared_data, tmp_path, capsys,
                                                                             monkeypatch):
    """The button, headless, on a folder that is one clip: a message, a fallback, an interval, no crash."""
    import json

    from core.hitl import plan
    from training.cli import main

    monkeypatch.setattr(plan, "foundation_available", lambda: False)  # the U-Net plan: its 5 folds stay fast

    root = thyroid_folder(shared_data, tmp_path / "f", list(range(0, 32)))  # 8 frames of clip 0000-0240
    assert main(["train-on-labels", str(tmp_path / "missing"), "--json"]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert main(["train-on-labels", str(root), "--minutes", "0.03", "--seed", "1", "--json"]) == 0
    cap = capsys.readouterr()
    out = json.loads(cap.out)
    assert {"model", "onnx", "val_dice", "val_ci", "val_n", "val_groups", "seconds"} <= set(out)
    assert "LiteMedSAM weights" in out["background"]["skipped"]   # no head to train: nothing embedded first
    assert Path(out["model"]).exists() and Path(out["onnx"]).exists()
    assert "one group only" in out["groups_note"] and out["groups"] == 5
    assert out["val_ci"][0] <= out["val_dice"] <= out["val_ci"][1] and out["val_n"] == 8 and out["val_groups"] == 5
    assert out["val_method"] == "5-fold cross-validation over groups" and "too few" in out["val_note"]  # one per group
    entry = Project.open(root).model(Project.open(root).active_model)
    assert entry.metrics["val_ci"] == out["val_ci"] and entry.metrics["val_groups"] == 5
