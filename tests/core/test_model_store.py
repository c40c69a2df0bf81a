"""The model library across projects: a Train on my labels model warm-starts a new project of the same
modality, never one of another modality."""

from __future__ import annotations

from core.data.layouts import load_index
from core.data.project import Project
from core.hitl import auto_train, model_store
from core.models.checkpoint import load_pretrained
from core.models.registry import build_model
from core.train.loop import run_training
from tests.core.test_train_support import make_subset

TINY = {"model": {"name": "unet", "base_channels": 4, "norm": "batch"}, "size": 64, "max_minutes": 0.03,
        "threads": 1}


def _plan(root):
    """The U-Net plan (the library holds U-Nets; the LiteMedSAM head of small sets is ADR 0015's)."""
    project = Project.open(root)
    return auto_train.plan_training(project, project.apply(load_index(root)), device="cpu", foundation=False)


def test_a_model_of_an_earlier_project_warm_starts_a_new_one_of_the_same_modality(shared_data, tmp_path,
                                                                                    monkeypatch):
    thyroid = shared_data / "tg3k_thyroid"
    first = make_subset(thyroid, tmp_path / "first", 8)
    project = Project.open(first)
    plan = auto_train.plan_training(project, project.apply(load_index(first)), device="cpu", **TINY)
    run_dir = auto_train.new_run_dir(project)
    run_training(plan.recipe.updated(split_ratios=[0.75, 0.25, 0.0]), first, run_dir)
    entry = auto_train.register(project, {"run_dir": str(run_dir), "checkpoint": str(run_dir / "best.safetensors"),
                                          "mode": "finetune"})  # what Train on my labels registers
    stored = list(model_store.library_dir().glob("256x256_foreground/*"))
    assert [p.name for p in stored] == [f"first-{entry.name}"]
    assert (stored[0] / "best.safetensors").exists() and (stored[0] / "best.json").exists()
    assert _plan(first).warm_from == entry.name  # its own project: the active model, not the library copy

    second = make_subset(thyroid, tmp_path / "second", 6, start=100)
    plan = _plan(second)
    assert plan.warm_from == f"library: first/{entry.name}" and plan.recipe.init.startswith(str(stored[0]))
    assert plan.recipe.model["base_channels"] == 4 and plan.recipe.size == 64
    assert "warm start from library: first/" in plan.describe()
    net = build_model({**plan.recipe.model, "in_channels": 1, "out_channels": 1})
    assert len(load_pretrained(net, plan.recipe.init)["loaded"]) > 10

    teeth = make_subset(shared_data / "ufba425_teeth", tmp_path / "teeth", 4)
    assert _plan(teeth).warm_from == ""  # panoramics: another modality

    monkeypatch.setattr(model_store, "KEEP", 1)
    again = Project.open(first)
    model_store.publish(again, again.model(again.active_model), "256x256:foreground")
    other = make_subset(thyroid, tmp_path / "third", 4, start=200)
    project = Project.open(other)
    project.add_model(entry, make_active=True)  # a copy of the entry; its checkpoint path is absolute below
    entry_abs = auto_train.model_path(again, again.model(again.active_model))
    project.model(entry.name).path = str(entry_abs)
    model_store.publish(project, project.model(entry.name), "256x256:foreground")
    assert len(list(model_store.library_dir().glob("256x256_foreground/*"))) == 1  # pruned to KEEP
