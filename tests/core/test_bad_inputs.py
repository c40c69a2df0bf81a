"""The bad-input corpus (issue 18): every case through every command that takes it.

Each case is one bad input built from a real tg3k frame in a tmp folder (``bad_input_cases`` says
how the runs are checked); the cases live by kind of input in ``tests/core/bad_inputs/`` (images,
masks, layouts, project files, COCO, STS-2D archives, training data, recovery journals). Image and mask
cases hold one sample, so a command that needs the bad part has nothing else to fall back on; commands
that never decode it (``index``, ``split``) must still succeed. Layout cases break the folder itself:
every dataset command refuses it in one line.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest

from tests.core.bad_input_cases import (  # noqa: F401  (corpus_env is a fixture)
    FAIL,
    REPORT,
    case_ids,
    corpus_env,
    run_case,
    run_process,
)
from tests.core.bad_inputs.coco import COCO_CASES
from tests.core.bad_inputs.images import IMAGE_CASES
from tests.core.bad_inputs.journals import JOURNAL_CASES
from tests.core.bad_inputs.layouts import LAYOUT_CASES
from tests.core.bad_inputs.masks import MASK_CASES
from tests.core.bad_inputs.project_files import PROJECT_CASES
from tests.core.bad_inputs.sts_zips import ZIP_CASES
from tests.core.bad_inputs.training import TRAIN_CASES

ALL_CASES = IMAGE_CASES + MASK_CASES + LAYOUT_CASES + PROJECT_CASES + COCO_CASES + ZIP_CASES + TRAIN_CASES

# every other command that reads a dataset folder, on a few cases of each kind of broken folder
EVERY_DATASET_COMMAND = ("pretrain-mim", "pretrain-recon", "mean-teacher", "pseudo-label", "suggest", "export-nnunet")
for _case in ALL_CASES:
    if _case.id in ("layout-empty-folder", "layout-images-dir-symlink-loop", "project-splits-list",
                    "project-version-string", "coco-width-string", "coco-file-name-traversal",
                    "layout-sts-csv-path-outside"):
        _case.runs = {**_case.runs, **{command: FAIL for command in EVERY_DATASET_COMMAND}}  # not the shared dict


@pytest.mark.parametrize("case", [
    dataclasses.replace(next(c for c in ALL_CASES if c.id == "image-png-truncated-half"),
                        runs={"check": REPORT, "predict": FAIL}),
    dataclasses.replace(next(c for c in ALL_CASES if c.id == "project-splits-list"), runs={"split": FAIL}),
], ids=lambda c: c.id)
def test_bad_input_in_a_real_process(case, corpus_env, tmp_path):  # noqa: F811
    """The same promises from the real entry point: exit code and the process's whole stderr."""
    run_case(case, corpus_env, tmp_path, None, runner=run_process)


@pytest.mark.parametrize("name, bad, later_restored", JOURNAL_CASES, ids=[c[0] for c in JOURNAL_CASES])
def test_damaged_journal_entry_is_skipped_and_the_rest_restored(corpus_env, tmp_path, name, bad,  # noqa: F811
                                                                later_restored):
    from core.annotation.session import AnnotationSession
    from core.data.io import read_mask
    from tests.core.bad_input_cases import tree_digest

    root = corpus_env.good_dataset(tmp_path / "data")
    session = AnnotationSession(root)
    journal = session.journal
    assert not read_mask(root / "masks" / "good0.png")[[10, 200], 10].any()  # both strokes land on background
    journal.append("good0", (256, 256), 10, 10, np.ones((3, 3), np.uint8))   # a good stroke before
    with open(journal.path_for("good0"), "ab") as fh:
        fh.write(bad)
    journal.append("good0", (256, 256), 200, 10, np.ones((2, 2), np.uint8))  # and one after
    images = tree_digest(root / "images")
    other = tree_digest(root / "masks" / "good1.png")
    assert session.pending_recovery() == ["good0"]
    restored = session.restore(["good0"])
    session.close()
    labels = read_mask(root / "masks" / "good0.png")
    assert (labels[10:13, 10:13] == 1).all()
    assert restored == (2 if later_restored else 1)
    assert (labels[200:202, 10:12] == 1).all() == later_restored
    assert len(journal.problems) == 1 and journal.problems[0].startswith("good0: "), journal.problems
    assert tree_digest(root / "images") == images and tree_digest(root / "masks" / "good1.png") == other
    assert AnnotationSession(root).pending_recovery() == []  # handled once, not offered again


def test_journal_of_an_unreadable_image_is_kept_and_others_restored(corpus_env, tmp_path):  # noqa: F811
    from core.annotation.session import AnnotationSession

    root = corpus_env.good_dataset(tmp_path / "data")
    session = AnnotationSession(root)
    for sid in ("good0", "good1"):
        session.journal.append(sid, (256, 256), 10, 10, np.full((3, 3), 7, np.uint8))
    data = (root / "images" / "good1.png").read_bytes()
    (root / "images" / "good1.png").write_bytes(data[: len(data) // 2])
    assert session.restore(["good0", "good1"]) == 1
    assert len(session.journal.problems) == 1 and "good1: not restored" in session.journal.problems[0]
    assert session.journal.path_for("good1").exists()


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # torch, on the crafted training state
@pytest.mark.parametrize("case", ALL_CASES, ids=case_ids(ALL_CASES))
def test_bad_input(case, corpus_env, tmp_path, capfd):  # noqa: F811
    run_case(case, corpus_env, tmp_path, capfd)


def test_library_warnings_are_dropped_and_other_stderr_kept(capfd):
    """fd-2 lines from libjpeg/libpng vanish while decoding; anything else printed meanwhile survives."""
    import threading

    from core.data.quiet import quiet_c_stderr

    def noisy(k: int) -> None:
        with quiet_c_stderr():
            os.write(2, b"Corrupt JPEG data: 3 extraneous bytes before marker 0xd9\n")
            os.write(2, f"keep {k}\n".encode())

    threads = [threading.Thread(target=noisy, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    err = capfd.readouterr().err
    assert sorted(err.splitlines()) == ["keep 0", "keep 1", "keep 2", "keep 3"]
