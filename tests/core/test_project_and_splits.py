"""Project file persistence and recovery; seeded, group- and duplicate-aware splits."""

from __future__ import annotations

import json
import shutil
from collections import Counter

import pytest

from core.data.classes import fdi_classes
from core.data.layouts import load_index
from core.data.project import ModelEntry, Project
from core.data.splits import make_splits
from core.errors import ProjectFileError
from tests.core.helpers import copy_pairs


def test_project_round_trip(shared_data, tmp_path):
    copy_pairs(shared_data, "ufba425_teeth", 3, tmp_path)
    project = Project.open(tmp_path)
    assert not project.path.exists()  # opening writes nothing
    project.classes = fdi_classes()
    project.set_status("cate1-00002", "reviewed")
    project.set_split("cate1-00002", "test")
    project.add_model(ModelEntry("m1", "runs/m1/best.safetensors", "finetune", "2026-01-01",
                                 {"dice": 0.9}), make_active=True)
    project.save()
    again = Project.open(tmp_path)
    assert again.path == tmp_path / ".toothseg" / "project.json"
    assert [c.value for c in again.classes][:3] == [11, 12, 13] and len(again.classes) == 32
    assert again.active_model == "m1" and again.model("m1").metrics == {"dice": 0.9}
    index = again.apply(load_index(tmp_path))
    assert index["cate1-00002"].status == "reviewed" and index["cate1-00002"].split == "test"
    with pytest.raises(ValueError):
        again.set_status("x", "maybe")


def test_corrupt_project_is_reported_untouched_then_kept_aside(tmp_path):
    pdir = tmp_path / ".toothseg"
    pdir.mkdir()
    (pdir / "project.json").write_text('{"format": "toothseg-project", "version": 1, "classes": [')
    before = (pdir / "project.json").read_bytes()
    with pytest.raises(ProjectFileError, match="corrupt"):
        Project.open(tmp_path)
    assert (pdir / "project.json").read_bytes() == before and len(list(pdir.iterdir())) == 1
    project, backup = Project.recover(tmp_path)
    assert backup.read_bytes() == before
    assert json.loads(project.path.read_text())["format"] == "toothseg-project"


def test_newer_or_foreign_project_files_are_refused(tmp_path):
    pdir = tmp_path / ".toothseg"
    pdir.mkdir()
    (pdir / "project.json").write_text(json.dumps({"format": "toothseg-project", "version": 99}))
    with pytest.raises(ProjectFileError, match="newer"):
        Project.open(tmp_path)
    (pdir / "project.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ProjectFileError, match="not a ToothSeg project"):
        Project.open(tmp_path)


def test_read_only_folder_keeps_project_in_user_data(shared_data, tmp_path, monkeypatch):
    copy_pairs(shared_data, "tg3k_thyroid", 2, tmp_path, mask_ext=".jpg")
    monkeypatch.setattr("core.data.project.os.access", lambda *a: False)
    project = Project.open(tmp_path)
    saved = project.save()
    assert project.in_user_data and not (tmp_path / ".toothseg").exists()
    assert Project.open(tmp_path).path == saved


def test_splits_are_seeded_group_aware_and_keep_duplicates_together(shared_data, tmp_path):
    stems = copy_pairs(shared_data, "tg3k_thyroid", 40, tmp_path, mask_ext=".jpg")
    # a duplicate of a labeled image hidden among unlabeled ones, under another name
    (tmp_path / "unlabeled").mkdir()
    shutil.copy(tmp_path / "images" / f"{stems[5]}.jpg", tmp_path / "unlabeled" / "copy-of-5.jpg")
    last = sorted((shared_data / "tg3k_thyroid/images").iterdir())[-1]
    shutil.copy(last, tmp_path / "unlabeled" / "other.jpg")
    index = load_index(tmp_path)
    for s in index:  # pretend consecutive frames come from 8 videos of 5 frames
        if s.has_mask:
            s.group = f"video{stems.index(s.id) // 5}"
    a = make_splits(index, (0.5, 0.25, 0.25), seed=3)
    assert make_splits(index, (0.5, 0.25, 0.25), seed=3) == a
    # consecutive ultrasound frames hash alike and are grouped; without that, seeds differ freely
    assert make_splits(index, seed=3, dedupe=False) != make_splits(index, seed=4, dedupe=False)
    per_group: dict[str, set[str]] = {}
    for s in index:
        if s.has_mask:
            per_group.setdefault(s.group, set()).add(a[s.id])
    assert all(len(v) == 1 for v in per_group.values())
    counts = Counter(a[s.id] for s in index if s.has_mask)
    assert counts["train"] >= 15 and counts["val"] >= 3 and counts["test"] >= 3
    assert a["copy-of-5"] == a[stems[5]]
    assert a["other"] == "train"
