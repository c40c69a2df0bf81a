"""Cross-validation after the model is active: the model is registered with an "estimating…" interval,
the folds run afterwards and update its figures; skipped (--no-cv) or cancelled, the val split's own
figure stands and says why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.data.project import Project
from core.errors import CancelledError
from core.hitl import auto_train, measure_later
from core.hitl.cross_validation import quality_text
from core.jobs import CancelToken
from tests.core.test_hitl_auto_train import TINY, open_project, thyroid  # noqa: F401 (fixture)


def _train_deferred(root: Path):
    project, index = open_project(root)
    auto_train.ensure_splits(project, index)
    plan = auto_train.plan_training(project, index, device="cpu", **TINY)
    outcome = auto_train.run_plan(plan, root, auto_train.new_run_dir(project))
    return project, auto_train.register(project, outcome), outcome


def test_model_is_active_first_then_cross_validation_updates_its_figures(thyroid):  # noqa: F811
    project, entry, outcome = _train_deferred(thyroid)
    run_dir = Path(outcome["run_dir"])
    assert outcome["cv_pending"] and measure_later.pending(run_dir) is not None
    assert not (run_dir / "cross_validation.json").exists()          # no fold has run yet
    assert project.active_model == entry.name                        # ... and the model is already active
    assert entry.metrics["val_method"] == measure_later.ESTIMATING and "val_ci" not in entry.metrics
    text = quality_text(outcome)
    assert "estimating" in text and "validation images alone" in text
    plan = measure_later.pending(run_dir)
    assert len(plan["label_ids"]) == 16 and plan["steps"] >= 1 and plan["holdout_rows"]

    metrics = measure_later.finish(project, entry.name, run_dir)
    assert metrics["val_method"] == "4-fold cross-validation over groups" and metrics["val_n"] == 16
    assert metrics["val_ci"][0] <= metrics["val_dice"] <= metrics["val_ci"][1]
    assert measure_later.pending(run_dir) is None and (run_dir / "cross_validation.json").exists()
    stored = Project.open(thyroid).model(entry.name).metrics
    assert stored["val_ci"] == metrics["val_ci"] and stored["val_method"] == metrics["val_method"]
    assert json.loads((run_dir / "best.json").read_text())["quality"]["source"] == "cross-validation"


def test_cancelled_or_skipped_cross_validation_keeps_the_val_split_figure(thyroid):  # noqa: F811
    project, entry, outcome = _train_deferred(thyroid)
    run_dir = Path(outcome["run_dir"])
    token = CancelToken()
    token.cancel()
    with pytest.raises(CancelledError):
        measure_later.finish(project, entry.name, run_dir, cancel=token)
    stored = Project.open(thyroid).model(entry.name).metrics
    assert stored["val_method"] == "validation split" and "cancelled" in stored["val_note"]
    assert stored["val_dice"] == pytest.approx(outcome["holdout_dice"]) and stored["val_n"] == outcome["holdout_n"]
    assert measure_later.pending(run_dir) is None and project.active_model == entry.name


def test_cli_no_cv_reports_the_active_model_and_why_there_is_no_cross_validation(thyroid, capsys,  # noqa: F811
                                                                                monkeypatch):
    from core.hitl import plan
    from training.cli import main

    monkeypatch.setattr(plan, "foundation_available", lambda: False)  # the U-Net plan: fast (the head: ADR 0015 tests)

    project, index = open_project(thyroid)
    auto_train.ensure_splits(project, index)
    # TINY's keys are not CLI flags: a tiny budget is
    assert main(["train-on-labels", str(thyroid), "--minutes", "0.03", "--seed", "1", "--no-cv", "--no-background",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["val_method"] == "validation split" and "skipped (--no-cv)" in out["val_note"]
    assert out["background"] == {"skipped": "--no-background"}
    assert out["cv_seconds"] is None and out["active_seconds"] <= out["seconds"] + 0.05   # each rounded apart
    assert Project.open(thyroid).active_model == out["name"]
    assert measure_later.pending(Path(out["model"]).parent) is None


def test_validation_images_train_only_when_cross_validation_measures(thyroid):  # noqa: F811
    """From 20 labels the head's saved weights are an average, not a choice by validation, so its 3 validation
    images train too (ADR 0015, seventh addendum): then nothing is scored as held out -- no val split figure, no
    calibration on images it trained on, no comparison with the previous model on them -- until the folds run.
    Where validation alone measures (no cross-validation), they stay held out."""
    project, index = open_project(thyroid)
    auto_train.ensure_splits(project, index)
    labeled = index.labeled()
    n_train, n_val = sum(s.split == "train" for s in labeled), sum(s.split == "val" for s in labeled)
    plan = auto_train.plan_training(project, index, device="cpu", **TINY, val_trains=True)
    outcome = auto_train.run_plan(plan, thyroid, auto_train.new_run_dir(project),
                                  previous_checkpoint=_train_deferred(thyroid)[2]["checkpoint"])
    run_dir = Path(outcome["run_dir"])
    assert outcome["cv_pending"] and outcome["recipe"]["val_trains"] and n_val >= 1
    assert json.loads((run_dir / "best.json").read_text())["train_ids"] == n_train + n_val
    assert outcome["holdout_n"] == 0 and outcome["previous_dice"] is None and outcome["val_dice"] is None
    assert "validation images alone" not in quality_text(outcome)
    assert measure_later.pending(run_dir)["holdout_rows"] == []
    assert json.loads((run_dir / "best.json").read_text())["quality"]["n_val"] == 0   # no line fitted on a fit
    from core.train.evaluate import evaluate

    for model in (outcome["onnx"], outcome["checkpoint"]):   # evaluation counts them as what they are
        report = evaluate(model, thyroid, split="val")
        assert report["n"] == n_val and set(report["by_origin"]) == {"train"}, report["by_origin"]
    skipped = measure_later.not_measured(run_dir, "skipped (--no-cv)")
    assert skipped["val_dice"] is None and skipped["val_n"] == 0      # no figure rather than a fit's

    from core.hitl.sequence import run_sequence

    plain = run_sequence(plan.recipe, thyroid, auto_train.new_run_dir(project))   # not measured: held out
    assert not plain["recipe"]["val_trains"] and plain["val_dice"] is not None
    from core.train.metrics_log import val_trained  # the curves of each run say which they are

    assert val_trained(outcome["checkpoint"]) and not val_trained(plain["checkpoint"]) and not val_trained(None)
