"""Session: saving in the dataset's own encoding, read-only folders, recovery journal replay."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess

import numpy as np
import pytest

from core.annotation.session import AnnotationSession
from core.data.io import read_mask, read_mask_with_encoding
from core.data.recovery import RecoveryJournal


def copy_subset(src, dest, n=3, unlabeled=0):
    """A few real samples in the paired layout (tests never write into /work/shared/data)."""
    names = sorted(p.name for p in (src / "images").iterdir())[:n]
    (dest / "images").mkdir(parents=True)
    (dest / "masks").mkdir()
    masks = {p.stem: p for p in (src / "masks").iterdir()}
    for name in names:
        shutil.copy(src / "images" / name, dest / "images" / name)
        m = masks[name.rsplit(".", 1)[0]]
        shutil.copy(m, dest / "masks" / m.name)
    if unlabeled:
        (dest / "unlabeled").mkdir()
        for name in sorted(p.name for p in (src / "images").iterdir())[n:n + unlabeled]:
            shutil.copy(src / "images" / name, dest / "unlabeled" / name)
    return dest


@pytest.mark.parametrize("dataset", ["tg3k_thyroid", "ufba425_teeth", "isbi2012_em_membrane"])
def test_save_keeps_the_dataset_encoding(shared_data, tmp_path, dataset):
    root = copy_subset(shared_data / dataset, tmp_path / dataset)
    s = AnnotationSession(root)
    sample = s.open(0)
    _, enc_before = read_mask_with_encoding(sample.mask)
    value = s.project.classes[0].value
    s.editor.paint_segment((40, 40), (80, 60), 6, value)
    s.committed((30, 70, 30, 90))
    s.step(1)                                                    # switching saves
    labels, enc_after = read_mask_with_encoding(sample.mask)
    assert enc_after.kind == enc_before.kind
    assert labels[50, 60] == value
    assert not s.journal.pending()


@contextlib.contextmanager
def read_only(*folders):
    """Really read-only folders, also for root: chmod when unprivileged, the immutable flag as root."""
    if os.geteuid() != 0:
        for f in folders:
            f.chmod(0o555)
        try:
            yield
        finally:
            for f in folders:
                f.chmod(0o755)
        return
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", *map(str, folders)]).returncode:
        pytest.skip("cannot make a folder read-only here")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", *map(str, folders)], check=True)


def test_read_only_folder_saves_to_user_data_and_reopens(shared_data, tmp_path):
    root = copy_subset(shared_data / "tg3k_thyroid", tmp_path / "ro", n=2, unlabeled=1)
    with read_only(root, root / "images", root / "masks", root / "unlabeled"):
        _edit_read_only(root)


def _edit_read_only(root):
    original = read_mask(root / "masks" / "0000.jpg")
    s = AnnotationSession(root)
    assert s.project.in_user_data
    s.open(0)
    s.editor.labels[:] = 0
    s.committed((0, 256, 0, 256))
    result = s.save()
    assert result.redirected and "read-only" in result.reason
    assert str(result.path).startswith(os.environ["TOOTHSEG_USER_DATA"])
    assert np.array_equal(read_mask(root / "masks" / "0000.jpg"), original)   # untouched
    s.open(2)                                                # the unlabeled image gets a new PNG
    s.editor.paint_segment((100, 100), (120, 100), 5, 1)
    s.committed((90, 110, 90, 130))
    s.save()
    assert not (root / ".toothseg").exists()
    again = AnnotationSession(root)
    again.open(0)
    assert not again.editor.labels.any()
    again.open(2)
    assert again.editor.labels[100, 110] == 1 and again.sample.status == "labeled"


def test_journal_replays_unsaved_strokes_and_survives_a_torn_entry(shared_data, tmp_path):
    root = copy_subset(shared_data / "ufba425_teeth", tmp_path / "teeth", n=2)
    s = AnnotationSession(root)
    s.open(1)
    before = s.editor.labels.copy()
    for i in range(3):
        s.editor.begin_stroke()
        s.editor.paint_segment((100 + 30 * i, 300), (120 + 30 * i, 320), 7, 21)
        s.committed(s.editor.end_stroke())
    s.undo()                                                     # undo is journaled too
    expected = s.editor.labels.copy()
    sid = s.sample.id
    journal = RecoveryJournal(s.project.dir / "recovery")
    with open(journal.path_for(sid), "ab") as fh:              # killed in the middle of a write
        fh.write(b"TSJ1\x40\x00\x00\x00{\"id\"")
    del s                                                        # crash: no save, no close
    s2 = AnnotationSession(root)
    assert s2.pending_recovery() == [sid]
    assert s2.restore([sid]) == 4
    s2.open(1)
    assert np.array_equal(s2.editor.labels, expected) and not np.array_equal(expected, before)
    assert s2.pending_recovery() == []


def test_undo_histories_are_kept_per_image_within_a_total_budget(shared_data, tmp_path):
    root = copy_subset(shared_data / "isbi2012_em_membrane", tmp_path / "em", n=3)
    s = AnnotationSession(root, history_bytes=150_000)
    for i in range(3):
        s.open(i)
        s.editor.paint_segment((10, 10), (400, 400), 40, 1)          # ~440 KB per record
        s.committed(s.editor.history._undo[-1])
    assert list(s.histories) == [s.index[2].id]                       # older images' stacks dropped
    s2 = AnnotationSession(root)
    s2.open(0)
    s2.editor.paint_segment((10, 10), (20, 20), 3, 7)
    s2.open(1)
    s2.open(0)
    assert s2.editor.history.undo_steps == 1                         # within budget: image 0 kept its stack


def test_load_on_a_worker_then_show_and_u_skips_the_current_image(shared_data, tmp_path):
    """``load`` (any thread) changes nothing; ``show`` makes it current and saves the image left; a mask
    saved between the two is reread; ``first_unlabeled`` never answers the image being edited."""
    from concurrent.futures import ThreadPoolExecutor

    root = copy_subset(shared_data / "tg3k_thyroid", tmp_path / "thyroid", n=1, unlabeled=2)
    s = AnnotationSession(root)
    assert s.first_unlabeled() == 1
    s.open(1)
    assert s.first_unlabeled() == 2                       # not the current image, unlabeled until saved
    s.editor.paint_segment((40, 40), (80, 60), 6, 1)
    s.committed((30, 70, 30, 90))
    with ThreadPoolExecutor(1) as pool:
        loaded = pool.submit(s.load, 2).result()
    assert s.position == 1 and s.dirty                    # loading touched nothing
    s.show(loaded)
    assert s.position == 2 and not s.dirty and s.editor.labels is loaded.labels
    assert s.index[1].status == "labeled" and s.first_unlabeled() is None
    stale = s.load(1)
    s.open(1)                                             # edit and save image 1 after it was loaded
    s.editor.paint_segment((10, 10), (20, 10), 3, 1)
    s.committed((7, 14, 7, 24))
    s.save()
    s.open(0)
    s.show(stale)                                         # the stale copy is not shown: the saved mask is
    assert s.editor.labels[10, 15] == 1 and s.editor.labels is not stale.labels
    s.close()


def test_listeners_hear_predictions_and_saves_until_they_unsubscribe(shared_data, tmp_path):
    root = copy_subset(shared_data / "tg3k_thyroid", tmp_path / "thyroid", n=2)
    s = AnnotationSession(root)
    heard: list[tuple[str, str]] = []
    unsubscribe = s.subscribe(lambda change, sid: heard.append((change, sid)))
    sample = s.open(0)
    mask = np.zeros(s.editor.shape, np.uint8)
    s.set_prediction(sample.id, mask)
    s.set_prediction(sample.id, None)
    s.set_prediction(sample.id, None)                  # nothing to drop: nothing heard
    assert s.predictions == {}
    s.save()                                           # an untouched mask is not written: nothing heard
    s.editor.paint_segment((20, 20), (30, 30), 4, s.project.classes[0].value)
    s.committed((10, 40, 10, 40))
    s.save()
    assert heard == [("prediction", sample.id), ("prediction", sample.id), ("saved", sample.id)]
    unsubscribe()
    s.set_prediction(sample.id, mask)
    assert len(heard) == 3 and s.listeners == []
    s.close()
