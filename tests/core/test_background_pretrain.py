"""Background pretraining refuses folders too small to teach anything, and writes nothing then."""

from __future__ import annotations

import pytest

from core.data.project import Project
from core.errors import ToothSegError
from core.hitl import background_pretrain as bp
from tests.core.test_train_support import make_subset


def test_too_few_images_is_one_clear_message_and_nothing_on_disk(shared_data, tmp_path):
    root = make_subset(shared_data / "tg3k_thyroid", tmp_path / "thyroid", 4, n_unlabeled=6)
    project = Project.open(root)
    state = bp.status(project, 10)
    assert not state["enough_images"] and state["minutes_done"] == 0 and not state["registered"]
    with pytest.raises(ToothSegError, match=f"at least {bp.MIN_IMAGES} images; this folder has 10"):
        bp.run(root, idle=False)
    assert not bp.run_dir(project).exists() and bp.register(project) is None
    assert not project.path.exists()
