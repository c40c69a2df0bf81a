"""Speed autotuning: the choice rule, the per-machine cache, and training with a chosen option on real data."""

from __future__ import annotations

import json

import pytest
import torch

from core.errors import ToothSegError
from core.models.checkpoint import load_checkpoint
from core.train import speed
from core.train.events import TrainEvents
from core.train.loop import run_training
from tests.core.test_train_support import TINY_MODEL, make_subset, tiny


@pytest.fixture(autouse=True)
def _one_thread():
    """As a training job sets it (recipe threads): two threads fighting over a busy core are 10x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_choice_keeps_only_options_that_learn_like_fp32_and_beat_it():
    results = {"fp32": {"img_s": 4.0, "loss_ok": True},
               "channels_last": {"img_s": 4.2, "loss_ok": True},           # within noise: not taken
               "bf16": {"img_s": 9.0, "loss_ok": False},                   # fast but learns differently
               "bf16+channels_last": {"img_s": 8.0, "loss_ok": True},
               "bf16+channels_last+compile": {"img_s": 12.0, "loss_ok": True},
               "fp16": {"error": "RuntimeError: no kernel"}}
    assert speed.choose(results) == ("bf16+channels_last+compile", 3.0)
    assert speed.choose(results, allow_compile=False) == ("bf16+channels_last", 2.0)
    slow = {"fp32": {"img_s": 4.0, "loss_ok": True}, "channels_last": {"img_s": 3.0, "loss_ok": True}}
    assert speed.choose(slow) == ("fp32", 1.0)


def test_option_names_parse_and_bad_names_are_refused():
    opt = speed.option("bf16+channels_last")
    assert (opt.dtype, opt.channels_last, opt.compile) == ("bf16", True, False)
    with pytest.raises(ToothSegError, match="unknown speed option"):
        speed.option("turbo")
    with pytest.raises(ToothSegError, match="unknown speed option"):
        tiny("finetune", speed="fp64")


def test_measure_reports_every_candidate_and_fp32_matches_itself():
    torch.manual_seed(0)
    from core.models.registry import build_model

    model = build_model({**TINY_MODEL, "in_channels": 1, "out_channels": 1})
    options = speed.candidates(torch.device("cpu"))
    results = speed.measure(model, torch.device("cpu"), (32, 32), 2, options, steps=2, rounds=1)
    assert [o.name for o in options] == list(results)
    assert results["fp32"]["loss_diff"] == 0 and results["fp32"]["loss_ok"]
    for r in results.values():
        assert r["img_s"] > 0 and r["loss_diff"] < speed.LOSS_TOLERANCE  # every CPU option learns alike here
    assert ("bf16" in results) == speed.cpu_bf16()


def test_autotune_measures_once_per_machine_and_workload_then_reads_the_cache():
    recipe = tiny("finetune", max_minutes=1.0, size=32, batch_size=2)
    logs: list[str] = []
    chosen = speed.autotune(recipe, torch.device("cpu"), log=logs.append)
    assert any("micro-benchmark" in line for line in logs)
    stored = json.loads(speed.cache_path().read_text())
    entry = stored[speed.machine_key(torch.device("cpu"))]
    assert entry["machine"]["torch"] == torch.__version__ and entry["machine"]["cpu"]
    record = entry["workloads"]["unet-4ch-32x32-b2"]
    assert record["choice"] == chosen.name and "fp32" in record["options"]
    logs.clear()
    assert speed.autotune(recipe, torch.device("cpu"), log=logs.append) == chosen
    assert any("cached" in line for line in logs) and not any("micro-benchmark" in line for line in logs)
    assert "CPU" in speed.describe_for(recipe, "cpu")
    # a short job on an unmeasured workload is not worth a benchmark: the default, nothing stored
    short = tiny("finetune", size=48, batch_size=2)
    assert speed.autotune(short, torch.device("cpu"), total_steps=10) == speed.FP32
    assert "unet-4ch-48x48-b2" not in json.loads(speed.cache_path().read_text())[
        speed.machine_key(torch.device("cpu"))]["workloads"]


def test_a_damaged_cache_is_measured_again(tmp_path):
    speed.cache_path().parent.mkdir(parents=True, exist_ok=True)
    speed.cache_path().write_text("{not json")
    assert speed.cached(torch.device("cpu"), "unet-4ch-32x32-b2") is None
    assert "first run" in speed.describe_for(tiny("finetune"), "cpu")


def test_training_with_the_fastest_cpu_option_saves_loadable_checkpoints(shared_data, tmp_path):
    name = "bf16+channels_last" if speed.cpu_bf16() else "channels_last"
    data = make_subset(shared_data / "tg3k_thyroid", tmp_path / "thyroid", 12)
    logs: list[str] = []

    class Log(TrainEvents):
        def on_log(self, line: str) -> None:
            logs.append(line)

    result = run_training(tiny("finetune", speed=name, split_ratios=[0.7, 0.3, 0.0]), data, tmp_path / "run",
                          events=Log())
    assert any(f"({name})" in line for line in logs)
    model, meta = load_checkpoint(result["best_checkpoint"])
    assert meta["recipe"]["speed"] == name
    assert all(t.is_contiguous() for t in model.state_dict().values())
    assert 0 <= result["metrics"]["val_dice"] <= 1


def test_the_plan_says_which_option_and_how_much_faster():
    recipe = tiny("finetune", size=32, batch_size=2)
    record = {"choice": "bf16+channels_last", "speedup": 2.4, "measured": "now", "compile_tried": False,
              "options": {"fp32": {"img_s": 4.0, "loss_ok": True},
                          "bf16+channels_last": {"img_s": 9.6, "loss_ok": True},
                          "bf16+channels_last+compile": {"img_s": 20.0, "loss_ok": True}}}
    speed.store(torch.device("cpu"), speed.workload_key(recipe.model, recipe.input_hw, recipe.batch_size), record)
    assert speed.describe_for(recipe, "cpu") == "bf16 + channels_last on CPU, 2.4× faster"  # short job: no compile
    assert speed.describe_for(recipe.updated(speed="fp32"), "cpu") == "fp32 (set in the recipe)"


def test_compile_is_tried_on_top_of_the_fastest_eager_option_only():
    results = {"fp32": {"img_s": 4.0, "loss_ok": True}, "bf16": {"img_s": 8.0, "loss_ok": True},
               "channels_last": {"img_s": 5.0, "loss_ok": True}}
    assert speed.with_compile(results).name == "bf16+compile"
    assert speed.with_compile({"fp32": {"img_s": 4.0, "loss_ok": True}}) == speed.option("fp32+compile")
