"""Job control: cancel within a second, exact resume at the next epoch, time budget, bad input."""

from __future__ import annotations

import csv
import threading
import time

import pytest

from core.errors import CancelledError, ToothSegError
from core.jobs import CancelToken
from core.train.events import RecordingEvents
from core.train.loop import run_training
from tests.core.test_train_support import make_subset, tiny


@pytest.fixture(scope="module")
def thyroid(shared_data, tmp_path_factory):
    return make_subset(shared_data / "tg3k_thyroid", tmp_path_factory.mktemp("thy"), 12, n_unlabeled=4)


class _CancelAfter(RecordingEvents):
    def __init__(self, token: CancelToken, steps: int):
        super().__init__()
        self.token, self.after, self.cancelled_at = token, steps, None

    def on_step(self, step, loss, lr):
        super().on_step(step, loss, lr)
        if step == self.after:
            self.cancelled_at = time.monotonic()
            threading.Thread(target=self.token.cancel).start()


@pytest.mark.parametrize("mode", ["finetune", "mean-teacher"])
def test_cancel_from_another_thread_stops_within_a_second(mode, thyroid, tmp_path):
    token = CancelToken()
    events = _CancelAfter(token, steps=4)
    outcome = {}

    def work():
        try:
            run_training(tiny(mode, epochs=500), thyroid, tmp_path / "run", events=events, cancel=token)
        except CancelledError as exc:
            outcome["error"] = exc
        outcome["end"] = time.monotonic()

    worker = threading.Thread(target=work)
    worker.start()
    worker.join(timeout=120)
    assert not worker.is_alive()
    assert isinstance(outcome.get("error"), CancelledError)
    assert outcome["end"] - events.cancelled_at < 1.0
    assert len(events.steps) < 10  # it did not run on to the end of a long job
    assert (tmp_path / "run" / "last.json").exists()  # the finished epoch's checkpoint is kept


def test_cancel_during_validation_skips_the_epoch_end_writes(thyroid, tmp_path, monkeypatch):
    from core.train.finetune import FinetuneObjective

    token = CancelToken()
    original = FinetuneObjective.validate
    calls = []

    def validate_then_cancel(self):
        calls.append(1)
        if len(calls) == 2:  # the user presses Cancel while epoch 2 is being validated
            token.cancel()
        return original(self)

    monkeypatch.setattr(FinetuneObjective, "validate", validate_then_cancel)
    events = RecordingEvents()
    with pytest.raises(CancelledError):
        run_training(tiny("finetune", epochs=5), thyroid, tmp_path / "run", events=events, cancel=token)
    rows = list(csv.DictReader((tmp_path / "run" / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1] and [e for e, _ in events.epochs] == [1]
    resumed = RecordingEvents()
    run_training(tiny("finetune", epochs=3), thyroid, tmp_path / "run", events=resumed, resume=True)
    assert [e for e, _ in resumed.epochs] == [2, 3]                 # epoch 2 is trained again, whole


def test_resume_continues_at_the_next_epoch_exactly(thyroid, tmp_path):
    full = RecordingEvents()
    run_training(tiny("finetune", epochs=4), thyroid, tmp_path / "full", events=full)
    run_training(tiny("finetune", epochs=2), thyroid, tmp_path / "part")
    resumed = RecordingEvents()
    result = run_training(tiny("finetune", epochs=4), thyroid, tmp_path / "part", events=resumed, resume=True)
    assert [e for e, _ in resumed.epochs] == [3, 4]
    per_epoch = resumed.info["steps_per_epoch"]
    assert resumed.steps[0][0] == 2 * per_epoch + 1 and result["steps"] == 4 * per_epoch
    assert resumed.info["first_epoch"] == 2
    rows = list(csv.DictReader((tmp_path / "part" / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    tail = [s[1] for s in full.steps[2 * per_epoch :]]
    assert [s[1] for s in resumed.steps] == pytest.approx(tail, rel=1e-4)


def test_resume_of_mean_teacher_restores_student_and_teacher(thyroid, tmp_path):
    run_training(tiny("mean-teacher", epochs=1), thyroid, tmp_path / "run")
    events = RecordingEvents()
    run_training(tiny("mean-teacher", epochs=2), thyroid, tmp_path / "run", events=events, resume=True)
    assert [e for e, _ in events.epochs] == [2]


def test_time_budget_stops_the_job_cleanly(thyroid, tmp_path):
    result = run_training(tiny("finetune", epochs=10_000, max_minutes=0.03), thyroid, tmp_path / "run")
    assert result["stopped"] == "budget"
    assert 1 <= result["steps"] and result["elapsed_s"] < 20
    assert (tmp_path / "run" / "best.json").exists()


def test_cpu_budget_counts_the_process_cpu_time_not_wall_time(thyroid, tmp_path, monkeypatch):
    import itertools

    wall = itertools.count(0.0, 1000.0)    # a loaded machine: 1000 wall seconds pass between looks at the clock
    monkeypatch.setattr(time, "monotonic", lambda: next(wall))
    c0 = time.process_time()
    result = run_training(tiny("finetune", epochs=10_000, max_minutes=0.02, cpu_budget=True), thyroid, tmp_path / "run")
    monkeypatch.undo()
    assert result["stopped"] == "budget" and result["steps"] >= 1
    assert 1.2 <= result["elapsed_s"] < time.process_time() - c0 + 0.01   # CPU seconds, the budget's clock


def test_resume_without_a_previous_run_is_a_clear_error(thyroid, tmp_path):
    with pytest.raises(ToothSegError, match="nothing to resume"):
        run_training(tiny("finetune"), thyroid, tmp_path / "empty", resume=True)


def test_folder_without_labels_is_refused_before_writing(shared_data, tmp_path):
    data = tmp_path / "only_images"
    make_subset(shared_data / "tg3k_thyroid", tmp_path / "src", 4)
    (tmp_path / "src" / "images").rename(data)
    with pytest.raises(ToothSegError, match="labeled training images"):
        run_training(tiny("finetune"), data, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_bad_recipe_values_are_refused():
    with pytest.raises(ToothSegError, match="labels_fraction"):
        tiny("finetune", labels_fraction=0)
    with pytest.raises(ToothSegError, match="unknown recipe keys"):
        tiny("finetune", learning_rate=1)
