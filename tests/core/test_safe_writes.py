"""Saves on a full disk, file modes of atomic writes, and temp files left behind by a kill (issue 18)."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import stat
import subprocess
import time

import numpy as np
import pytest

from core.annotation.session import AnnotationSession
from core.data import atomic
from core.data.io import read_mask, write_mask
from core.data.recovery import RecoveryJournal
from core.errors import DiskFullError
from tests.core.test_annotation_session import copy_subset


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@contextlib.contextmanager
def _umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def test_atomic_writes_keep_the_mode_and_new_files_follow_the_umask(tmp_path):
    with _umask(0o022):
        assert _mode(atomic.atomic_write_text(tmp_path / "new.txt", "a")) == 0o644
        target = tmp_path / "shared.json"
        target.write_text("{}")
        os.chmod(target, 0o664)
        atomic.atomic_write_json(target, {"a": 1})
        assert _mode(target) == 0o664 and json.loads(target.read_text()) == {"a": 1}
        os.chmod(target, 0o600)
        atomic.atomic_write_json(target, {"a": 2})
        assert _mode(target) == 0o600                     # private files stay private
    with _umask(0o002):
        assert atomic.current_umask() == 0o002
        assert _mode(atomic.atomic_write_bytes(tmp_path / "group.bin", b"x")) == 0o664
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_an_edited_dataset_mask_keeps_its_mode(shared_data, tmp_path):
    root = copy_subset(shared_data / "ufba425_teeth", tmp_path / "teeth", n=1)
    mask = next((root / "masks").iterdir())
    os.chmod(mask, 0o644)
    s = AnnotationSession(root)
    s.open(0)
    s.editor.paint_segment((40, 40), (60, 60), 5, 11)
    s.committed((30, 70, 30, 70))
    s.save()
    assert read_mask(mask)[50, 50] == 11
    assert _mode(mask) == 0o644
    s.close()


# ------------------------------------------------------------------------------ full disk

@contextlib.contextmanager
def _file_size_limit(limit: int):
    """RLIMIT_FSIZE for this process (writes past ``limit`` fail with EFBIG, like a full disk)."""
    resource = pytest.importorskip("resource")                 # POSIX only
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)


def test_split_on_a_full_disk_exits_non_zero_and_keeps_the_old_splits(shared_data, tmp_path, capsys):
    from training.cli import main

    root = copy_subset(shared_data / "ufba425_teeth", tmp_path / "teeth", n=12)
    assert main(["split", str(root), "--seed", "0"]) == 0
    project_file = root / ".toothseg" / "project.json"
    before = project_file.read_bytes()
    capsys.readouterr()
    with _file_size_limit(len(before) // 2):
        code = main(["split", str(root), "--seed", "7"])
    err = capsys.readouterr().err
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "disk is full" in lines[0] and "Traceback" not in err
    assert project_file.read_bytes() == before                    # old splits intact
    assert not list(root.rglob("*.tmp"))
    user_projects = os.path.join(os.environ["TOOTHSEG_USER_DATA"], "projects")
    assert not any("project.json" in files for _, _, files in os.walk(user_projects))  # no move to user data


def test_journal_write_on_a_full_disk_is_rolled_back(tmp_path, monkeypatch):
    journal = RecoveryJournal(tmp_path / "recovery", "inst")
    journal.append("a", (8, 8), 0, 0, np.ones((2, 2), np.uint8))
    size = journal.path_for("a").stat().st_size
    real_write = os.write

    def full(fd, data):
        real_write(fd, bytes(data)[:5])                         # a few bytes land, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(DiskFullError, match="disk is full.*still in the editor"):
        journal.append("a", (8, 8), 1, 1, np.full((3, 3), 2, np.uint8))
    with pytest.raises(DiskFullError):
        journal.append("b", (8, 8), 1, 1, np.full((3, 3), 2, np.uint8))
    monkeypatch.undo()
    assert journal.path_for("a").stat().st_size == size          # cut back: no torn entry
    assert not journal.path_for("b").exists()                    # no 0-byte journal
    shape, entries = journal.entries("a")
    assert shape == (8, 8) and len(entries) == 1


@pytest.fixture
def tiny_disk(tmp_path):
    """A 2 MB tmpfs (root only); skipped where mounting is not allowed (the RLIMIT test still runs)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
                                           capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(folder, leave: int = 0) -> None:
    """Fill the file system of ``folder`` up to ``leave`` bytes."""
    with open(folder / "filler.bin", "wb") as fh:
        chunk = b"\0" * 65536
        try:
            while True:
                fh.write(chunk)
                fh.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    if leave:
        size = os.path.getsize(folder / "filler.bin")
        os.truncate(folder / "filler.bin", size - leave)


def test_full_disk_says_so_keeps_the_mask_and_the_journal(shared_data, tiny_disk):
    root = copy_subset(shared_data / "ufba425_teeth", tiny_disk / "teeth", n=2)
    s = AnnotationSession(root)
    s.open(0)
    mask_path = s.sample.mask
    before = mask_path.read_bytes()
    s.editor.begin_stroke()
    s.editor.paint_segment((100, 100), (300, 300), 20, 11)
    s.committed(s.editor.end_stroke())
    _fill(tiny_disk)
    with pytest.raises(DiskFullError, match="disk is full"):
        s.save()
    assert mask_path.read_bytes() == before                     # old mask intact
    assert s.dirty and s.journal.pending() == [s.sample.id]     # journal kept, edit still unsaved
    assert not s.project.in_user_data                            # not mistaken for a read-only folder
    with pytest.raises(DiskFullError):
        s.open(1)                                                # switching images saves first: refused too
    assert s.position == 0 and s.dirty

    s.editor.begin_stroke()                                      # a stroke on the full disk
    s.editor.paint_segment((330, 330), (420, 420), 30, 11)     # more than the page a journal has left
    with pytest.raises(DiskFullError, match="recovery journal"):
        s.committed(s.editor.end_stroke())
    journals = list((s.project.dir / "recovery").rglob("*.journal"))
    assert journals and all(p.stat().st_size > 0 for p in journals)
    assert not list(root.rglob("*.tmp"))

    os.unlink(tiny_disk / "filler.bin")                          # space again: the same session saves
    assert s.save() is not None
    saved = read_mask(mask_path)
    assert saved[200, 200] == 11 and saved[400, 400] == 11       # both strokes, none lost
    assert s.journal.pending() == []
    s.close()


def test_a_new_mask_on_a_full_disk_is_not_moved_to_user_data(shared_data, tiny_disk):
    root = copy_subset(shared_data / "ufba425_teeth", tiny_disk / "teeth", n=1, unlabeled=1)
    s = AnnotationSession(root)
    s.open(next(i for i, x in enumerate(s.index) if not x.has_mask))
    s.editor.paint_segment((100, 100), (200, 200), 20, 11)
    s.committed((80, 220, 80, 220))
    _fill(tiny_disk)
    with pytest.raises(DiskFullError, match="disk is full"):
        s.save()
    assert not s.project.in_user_data and s.sample.mask is None and s.sample.status == "unlabeled"
    user_projects = os.path.join(os.environ["TOOTHSEG_USER_DATA"], "projects")
    assert not any(f.endswith((".png", ".json")) and f != "lock.json"
                   for _, _, files in os.walk(user_projects) for f in files)
    assert not (root / ".toothseg" / "project.json").exists() and not list(root.rglob("*.tmp"))
    os.unlink(tiny_disk / "filler.bin")
    result = s.save()
    assert result is not None and not result.redirected and read_mask(result.path)[150, 150] == 11
    s.close()


# ------------------------------------------------------------------------------ stale temp files

def test_only_our_unlocked_old_temp_files_are_removed(tmp_path):
    fcntl = pytest.importorskip("fcntl")                       # Windows refuses to delete open files instead
    old = time.time() - 60
    stale = tmp_path / ".0422.jpg.uvtb6mon.tmp"
    busy = tmp_path / ".0423.png.abcdefgh.tmp"
    young = tmp_path / ".0424.png.a1b2c3d4.tmp"
    foreign = [tmp_path / "notes.tmp", tmp_path / ".hidden.tmp", tmp_path / ".x.png.TOOLONG12.tmp"]
    for p in (stale, busy, young, *foreign):
        p.write_bytes(b"partial")
    for p in (stale, busy, *foreign):
        os.utime(p, (old, old))
    with open(busy, "rb+") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)                # a write in progress in another process
        removed = atomic.remove_stale_temps([tmp_path])
    assert removed == [stale]
    assert busy.exists() and young.exists() and all(p.exists() for p in foreign)


def test_opening_removes_temp_files_a_kill_left(shared_data, tmp_path):
    root = copy_subset(shared_data / "ufba425_teeth", tmp_path / "teeth", n=2)
    mask = next((root / "masks").iterdir())
    leftover = root / "masks" / f".{mask.name}.uvtb6mon.tmp"
    leftover.write_bytes(mask.read_bytes()[:100])
    os.utime(leftover, (time.time() - 10, time.time() - 10))
    project_tmp = root / ".toothseg" / ".project.json.k2j4h5g6.tmp"
    project_tmp.parent.mkdir()
    project_tmp.write_text("{")
    os.utime(project_tmp, (time.time() - 10, time.time() - 10))
    s = AnnotationSession(root)
    assert set(s.removed_temps) == {leftover, project_tmp}
    assert not leftover.exists() and not project_tmp.exists()
    s.close()
    write_mask(tmp_path / "m.png", np.zeros((4, 4), np.uint8))  # atomic writes leave nothing behind
    assert sorted(os.listdir(tmp_path)) == ["m.png", "teeth"]


def test_checkpoint_pair_on_a_full_disk_keeps_the_old_pair_and_its_mode(tmp_path, monkeypatch):
    from core.models import build_model
    from core.models.checkpoint import checkpoint_paths, load_checkpoint, save_checkpoint

    cfg = {"name": "unet", "in_channels": 1, "out_channels": 1, "base_channels": 4}
    meta = {"input_size": [64, 64], "fingerprint": "abc"}
    save_checkpoint(tmp_path / "ckpt", build_model(cfg), cfg, meta)
    weights, sidecar = checkpoint_paths(tmp_path / "ckpt")
    os.chmod(weights, 0o644)
    os.chmod(sidecar, 0o644)
    before = weights.read_bytes(), sidecar.read_bytes()
    with _file_size_limit(len(before[0]) // 2), pytest.raises(DiskFullError, match="disk is full"):
        save_checkpoint(tmp_path / "ckpt", build_model(cfg), cfg, dict(meta, fingerprint="new"))
    real_fsync, calls = os.fsync, []

    def sidecar_fails(fd):                                        # the weights fit, the sidecar does not
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", sidecar_fails)
    with pytest.raises(DiskFullError):
        save_checkpoint(tmp_path / "ckpt", build_model(cfg), cfg, dict(meta, fingerprint="new"))
    monkeypatch.undo()
    assert (weights.read_bytes(), sidecar.read_bytes()) == before     # neither half of the pair changed
    assert not list(tmp_path.glob(".*.tmp"))
    save_checkpoint(tmp_path / "ckpt", build_model(cfg), cfg, dict(meta, fingerprint="new"))
    assert _mode(weights) == 0o644 and _mode(sidecar) == 0o644
    assert load_checkpoint(sidecar) is not None
