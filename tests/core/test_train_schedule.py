"""Weight averaging and the budget-aware cosine schedule (real thyroid frames, tiny models)."""

from __future__ import annotations

import csv

import pytest
import torch

from core.errors import CancelledError
from core.jobs import CancelToken
from core.models.checkpoint import load_checkpoint
from core.train.ema import WeightAverage
from core.train.events import RecordingEvents
from core.train.loop import cosine_lr, read_state, run_training
from tests.core.test_train_support import make_subset, tiny


@pytest.fixture(scope="module")
def thyroid(shared_data, tmp_path_factory):
    return make_subset(shared_data / "tg3k_thyroid", tmp_path_factory.mktemp("thy"), 12)


def test_weight_average_moves_trainable_weights_and_statistics_and_leaves_frozen_ones():
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2), torch.nn.Conv2d(2, 1, 1))
    net[2].weight.requires_grad_(False)
    avg = WeightAverage(net, alpha=0.9)
    before = [p.detach().clone() for p in net.parameters()]
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
        net[1].running_mean.fill_(3.0)
    avg.update(net)
    got = list(avg.model.parameters())
    assert torch.allclose(got[0], before[0] + 0.1)                       # 0.9 old + 0.1 (old + 1)
    assert torch.equal(got[4], before[4])                                 # frozen: untouched
    assert torch.allclose(avg.model[1].running_mean, torch.full((2,), 0.3))  # statistics are averaged too
    assert int(avg.model[1].num_batches_tracked) == int(net[1].num_batches_tracked)
    assert not avg.model.training and not any(p.requires_grad for p in avg.model.parameters())


def test_weight_average_warmup_forgets_the_start_quickly():
    avg = WeightAverage(torch.nn.Linear(1, 1), alpha=0.99, warmup=True)
    assert avg.decay() == pytest.approx(0.1)
    avg.updates = 10_000
    assert avg.decay() == 0.99


def test_uniform_average_is_the_plain_mean_of_its_updates():
    net = torch.nn.Linear(1, 1, bias=False)
    avg = WeightAverage(net, 0.0, uniform=True)
    for value in (1.0, 2.0, 6.0):
        with torch.no_grad():
            net.weight.fill_(value)
        avg.update(net)
    assert avg.model.weight.item() == pytest.approx(3.0)


def test_finetune_averaging_from_half_saves_the_latest_average(thyroid, tmp_path):
    """Stochastic weight averaging: before its start the saved network follows the raw weights; from it every
    epoch's average is saved as the best, whatever validation says, and a resumed run averages on exactly."""
    full = RecordingEvents()
    run_training(tiny("finetune", epochs=4, average_from=0.5), thyroid, tmp_path / "full", events=full)
    assert full.info["average_from"] == 0.5 and "weight_ema" not in full.info
    state = read_state(tmp_path / "full")
    per_epoch = full.info["steps_per_epoch"]
    assert int(state["extra"]["average_updates"]) == 2 * per_epoch + 1  # the last step before the start, then the rest
    best, _ = load_checkpoint(tmp_path / "full" / "best.json")
    last, _ = load_checkpoint(tmp_path / "full" / "last.json")
    student = state["extra"]["student"]
    name = next(k for k in student if k.endswith("weight"))
    assert torch.equal(best.state_dict()[name], last.state_dict()[name])  # the latest average is the best
    assert not torch.equal(last.state_dict()[name], student[name])

    token = CancelToken()

    class StopAfterThree(RecordingEvents):
        def on_epoch(self, epoch, metrics):
            if epoch == 3:
                token.cancel()

    with pytest.raises(CancelledError):
        run_training(tiny("finetune", epochs=4, average_from=0.5), thyroid, tmp_path / "part",
                     events=StopAfterThree(), cancel=token)
    run_training(tiny("finetune", epochs=4, average_from=0.5), thyroid, tmp_path / "part", resume=True)
    b, _ = load_checkpoint(tmp_path / "part" / "last.json")
    for (k, x), y in zip(last.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.allclose(x.float(), y.float(), atol=1e-5), k


def test_a_time_cap_that_ends_a_step_capped_run_early_never_starts_the_average(thyroid, tmp_path):
    """Averaging immature weights scored worse than the best epoch; a loaded machine whose time cap ends the
    head's 120 steps early keeps best-by-validation instead of averaging from half the time."""
    events = RecordingEvents()
    run_training(tiny("finetune", epochs=100, max_steps=10_000, max_minutes=0.01, average_from=0.5), thyroid,
                 tmp_path / "run", events=events)
    assert 0 < len(events.steps) < 5_000                         # the time cap ended it
    assert int(read_state(tmp_path / "run")["extra"]["average_updates"]) == 1  # still following the raw weights


def test_finetune_with_weight_ema_saves_the_average_and_resumes_exactly(thyroid, tmp_path):
    full = RecordingEvents()
    run_training(tiny("finetune", epochs=4, weight_ema=0.9), thyroid, tmp_path / "full", events=full)
    rows = list(csv.DictReader((tmp_path / "full" / "metrics.csv").open()))
    assert all(0 <= float(r["raw_dice"]) <= 1 for r in rows) and full.info["weight_ema"] == 0.9
    saved, _ = load_checkpoint(tmp_path / "full" / "last.json")
    student = read_state(tmp_path / "full")["extra"]["student"]
    name = next(k for k in student if k.endswith("weight"))
    assert not torch.equal(saved.state_dict()[name], student[name])       # the checkpoint is the average

    run_training(tiny("finetune", epochs=2, weight_ema=0.9), thyroid, tmp_path / "part")
    resumed = RecordingEvents()
    run_training(tiny("finetune", epochs=4, weight_ema=0.9), thyroid, tmp_path / "part", events=resumed, resume=True)
    per_epoch = resumed.info["steps_per_epoch"]
    assert [s[1] for s in resumed.steps] == pytest.approx([s[1] for s in full.steps[2 * per_epoch :]], rel=1e-4)
    a, _ = load_checkpoint(tmp_path / "full" / "last.json")
    b, _ = load_checkpoint(tmp_path / "part" / "last.json")
    for (k, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.allclose(x.float(), y.float(), atol=1e-5), k


def test_cosine_schedule_anneals_from_the_base_rate_to_the_floor_over_the_steps(thyroid, tmp_path):
    assert cosine_lr(1e-2, 1e-6, 0.0) == pytest.approx(1e-2)
    assert cosine_lr(1e-2, 1e-6, 0.5) == pytest.approx(0.5 * (1e-2 + 1e-6))
    assert cosine_lr(1e-2, 1e-6, 7.0) == pytest.approx(1e-6)
    events = RecordingEvents()
    run_training(tiny("finetune", epochs=4, schedule="cosine", lr=1e-2), thyroid, tmp_path / "run", events=events)
    rates = [lr for _, _, lr in events.steps]
    assert rates[0] == pytest.approx(1e-2)
    assert all(b <= a for a, b in zip(rates, rates[1:], strict=False)) and rates[-1] < 1e-3


def test_time_budget_counts_the_sessions_before_a_resume(thyroid, tmp_path):
    first = run_training(tiny("finetune", epochs=2), thyroid, tmp_path / "run")
    assert read_state(tmp_path / "run")["elapsed_s"] > 0
    resumed = run_training(tiny("finetune", epochs=4, max_minutes=1e-6), thyroid, tmp_path / "run", resume=True)
    assert resumed["stopped"] == "budget" and resumed["steps"] == first["steps"]
