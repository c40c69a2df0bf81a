"""Training throughput per speed option, side by side: U-Net 16 at 256 px, batch 4, one thread (and the
network Train on my labels plans for a small label set on a CPU: U-Net 8 at 128 px, batch 4).

Prints images per second of fp32 eager, channels_last, bf16 autocast and bf16 + channels_last (bf16
only where the CPU runs it natively), whether each option's losses match fp32's over the first steps,
and the option the autotuner (``core.train.speed``) picks with its speed-up over fp32 eager. Goal: the
choice is >= 2x fp32 eager where bf16 is supported and never slower than fp32 anywhere.
TOOTHSEG_BENCH_COMPILE=1 adds the torch.compile variants (minutes of compiling on a busy 2-core box).
"""

from __future__ import annotations

import os

import pytest
import torch

from core.models.registry import build_model
from core.train import speed

WORKLOADS = {"unet16-256": (16, 256), "plan-unet8-128": (8, 128)}


@pytest.mark.benchmark
@pytest.mark.parametrize("workload", list(WORKLOADS))
def test_training_speed_options(workload):
    channels, size = WORKLOADS[workload]
    torch.set_num_threads(1)
    device = torch.device("cpu")
    torch.manual_seed(0)
    model = build_model({"name": "unet", "base_channels": channels, "norm": "batch", "in_channels": 1,
                         "out_channels": 1})
    rounds = int(os.environ.get("TOOTHSEG_BENCH_ROUNDS", "4"))
    results = speed.measure(model, device, (size, size), 4, speed.candidates(device), steps=3, rounds=rounds)
    if os.environ.get("TOOTHSEG_BENCH_COMPILE") == "1":
        compiled = speed.measure(model, device, (size, size), 4, [speed.FP32, speed.with_compile(results)], steps=4,
                                 rounds=0)
        results.update({k: v for k, v in compiled.items() if k != "fp32"})
    base = results["fp32"]["img_s"]
    print(f"\nU-Net {channels} at {size} px, batch 4 on {speed.cpu_model()} ({', '.join(speed.cpu_flags())}), "
          f"torch {torch.__version__}, 1 thread, "
          f"bf16 native: {speed.cpu_bf16()}")
    print(f"{'option':28s} {'img/s':>7s} {'x fp32':>7s} {'loss diff':>10s}  first step")
    for name, r in results.items():
        if "error" in r:
            print(f"{name:28s} failed: {r['error']}")
            continue
        print(f"{name:28s} {r['img_s']:7.2f} {r['img_s'] / base:6.2f}x {r['loss_diff']:10.4f}  "
              f"{r['first_step_s']:.1f} s" + ("" if r["loss_ok"] else "  (losses differ: rejected)"))
    choice, speedup = speed.choose(results, allow_compile=True)
    print(f"autotuned choice: {choice}, {speedup:.2f}x fp32 eager "
          f"(goal: >= 2x where bf16 is supported, never below 1x)")
    assert results["fp32"]["loss_ok"]
