"""Two app instances on one folder, and the app beside the CLI: no edit and no split is lost (issue 18)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from core.annotation.session import AnnotationSession
from core.data.io import read_mask, write_mask
from core.data.project import ModelEntry, Project
from core.errors import FolderLockedError
from tests.core.test_annotation_session import copy_subset

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _stroke(s: AnnotationSession, y: int, x: int, value: int = 11) -> None:
    s.editor.begin_stroke()
    s.editor.paint_segment((x, y), (x + 20, y + 10), 6, value)
    s.committed(s.editor.end_stroke())


def test_second_instance_is_read_only_and_says_who_holds_the_folder(shared_data, tmp_path):
    root = copy_subset(shared_data / "ufba425_teeth", tmp_path / "teeth", n=2)
    first, second = AnnotationSession(root), AnnotationSession(root)
    assert not first.read_only and second.read_only
    reason = second.read_only_reason
    assert f"pid {os.getpid()}" in reason and "ToothSeg Studio" in reason and "in use by" in reason
    assert not second.can_take_over()                           # the holder is alive and beating
    first.open(0)
    second.open(0)
    _stroke(first, 100, 100)
    second.editor.paint_segment((300, 300), (320, 320), 6, 11)
    with pytest.raises(FolderLockedError, match="Read-only"):
        second.committed((290, 330, 290, 330))
    with pytest.raises(FolderLockedError):
        second.save_project()
    assert second.pending_recovery() == []                       # never offers another's live strokes
    first.save()
    assert read_mask(first.sample.mask)[105, 110] == 11
    assert read_mask(first.sample.mask)[310, 310] != 11          # the read-only edit was not written
    second.close()                                               # closing a read-only view saves nothing
    assert first.lock.verify()
    first.close()
    third = AnnotationSession(root)                              # released: the next one may edit
    assert not third.read_only
    third.close()
    assert not (root / ".toothseg" / "lock.json").exists()


def test_a_stale_lock_can_be_taken_over_and_the_old_owner_loses_nothing(shared_data, tmp_path):
    root = copy_subset(shared_data / "ufba425_teeth", tmp_path / "teeth", n=2)
    old = AnnotationSession(root)
    old.open(0)
    _stroke(old, 100, 100)
    old.save()
    _stroke(old, 200, 200)                                       # unsaved, in old's journal only
    for lock in old.lock.locks:                                  # old's machine went silent 10 minutes ago
        data = json.loads(lock.path.read_text())
        data["heartbeat"] -= 600
        lock.path.write_text(json.dumps(data))
    new = AnnotationSession(root)
    assert new.read_only and new.can_take_over()
    assert new.take_over() and not new.read_only
    with pytest.raises(FolderLockedError, match="in use by"):   # the old owner stops saving
        old.save()
    assert old.read_only and not old.heartbeat()
    assert new.pending_recovery() == [old.sample.id]             # its stroke is offered to the new owner
    assert new.restore(new.pending_recovery()) >= 1
    saved = read_mask(old.sample.mask)
    assert saved[105, 110] == 11 and saved[205, 210] == 11
    old.close()
    new.close()


HOLDER = """
import sys, time
from core.annotation.session import AnnotationSession
s = AnnotationSession(sys.argv[1])
print("read-only" if s.read_only else "holding", flush=True)
time.sleep(120)
"""


def test_a_lock_held_by_another_process_is_respected_until_that_process_dies(shared_data, tmp_path):
    root = copy_subset(shared_data / "ufba425_teeth", tmp_path / "teeth", n=1)
    env = dict(os.environ, PYTHONPATH=REPO)
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(root)], env=env, cwd=REPO,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "holding"
        s = AnnotationSession(root)
        assert s.read_only and f"pid {child.pid}" in s.read_only_reason
        s.close()
    finally:
        child.kill()
        child.wait()
    s = AnnotationSession(root)                                  # killed: its lock is taken over at once
    assert not s.read_only
    s.close()


def test_app_and_cli_at_once_lose_no_split_class_or_model(shared_data, tmp_path):
    root = copy_subset(shared_data / "ufba425_teeth", tmp_path / "teeth", n=10, unlabeled=2)
    s = AnnotationSession(root)
    s.project.classes[0].name = "tooth (app)"
    s.save_project()
    stale = Project.open(root)                                   # e.g. a review panel's copy, read before the CLI ran
    env = dict(os.environ, PYTHONPATH=REPO)
    cli = subprocess.run([sys.executable, "-m", "training.cli", "split", str(root), "--seed", "3", "--json"],
                         env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert cli.returncode == 0, cli.stderr
    splits = dict(json.loads((root / ".toothseg" / "project.json").read_text())["splits"])
    assert len(splits) == 12

    trainer = Project.open(root)                                 # a training run registering its model
    trainer.add_model(ModelEntry("run-1", "models/run-1/best.json", "finetune", "2026-01-01T00:00:00"),
                      make_active=True)
    s.open(next(i for i, x in enumerate(s.index) if not x.has_mask))
    _stroke(s, 100, 100)                                         # a new mask: status -> labeled (project save)
    s.project.classes[0].color = "#123456"
    trainer.save()
    s.save()
    s.save_project()

    disk = json.loads((root / ".toothseg" / "project.json").read_text())
    assert disk["splits"] == splits                              # the CLI's splits survive the app's saves
    assert disk["classes"][0]["name"] == "tooth (app)"
    assert disk["classes"][0]["color"].lower() == "#123456"
    assert disk["status"][s.sample.id] == "labeled"
    assert [m["name"] for m in disk["models"]] == ["run-1"] and disk["active_model"] == "run-1"
    assert s.project.splits == splits and s.project.model("run-1") is not None   # the app sees them too
    stale.status["other"] = "reviewed"                           # saving a stale copy rewrites nothing it did not change
    stale.save()
    disk = json.loads((root / ".toothseg" / "project.json").read_text())
    assert disk["splits"] == splits and disk["status"][s.sample.id] == "labeled"
    assert disk["status"]["other"] == "reviewed" and disk["active_model"] == "run-1"
    assert disk["classes"][0]["color"].lower() == "#123456"
    s.close()


def test_mask_changed_on_disk_since_loading_is_merged_not_overwritten(shared_data, tmp_path):
    root = copy_subset(shared_data / "ufba425_teeth", tmp_path / "teeth", n=1)
    s = AnnotationSession(root)
    s.open(0)
    path = s.sample.mask
    _stroke(s, 100, 100, value=11)
    other = read_mask(path)
    other[400:420, 400:420] = 21                                 # another program saved meanwhile
    time.sleep(0.01)
    write_mask(path, other)
    result = s.save()
    saved = read_mask(path)
    assert saved[105, 110] == 11 and (saved[400:420, 400:420] == 21).all()
    assert 0 < result.merged <= 400
    assert np.array_equal(s.editor.labels, saved)                # the editor shows the merged mask
    s.close()


def test_project_merge_keeps_both_sides_changes():
    from core.data.project_merge import merge_project

    base = {"classes": [1], "splits": {"a": "train", "b": "val"}, "status": {}, "extra": {},
            "models": [{"name": "m1"}], "active_model": "m1", "split_seed": 0}
    ours = dict(base, splits={"a": "test"}, models=[{"name": "m1"}, {"name": "m2"}], active_model="m2")
    theirs = dict(base, classes=[2], splits={"a": "train", "b": "val", "c": "train"}, split_seed=5,
                  models=[{"name": "m1", "onnx": "x"}, {"name": "m3"}])
    out = merge_project(base, ours, theirs)
    assert out["splits"] == {"a": "test", "c": "train"}          # ours changed a, deleted b; theirs added c
    assert out["classes"] == [2] and out["split_seed"] == 5 and out["active_model"] == "m2"
    assert out["models"] == [{"name": "m1", "onnx": "x"}, {"name": "m3"}, {"name": "m2"}]
