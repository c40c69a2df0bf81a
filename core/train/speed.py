"""Training that uses the machine: measure the ways a step can run and keep the fastest that learns alike.

Every CPU and GPU differs (a Xeon with AVX-512 BF16 / AMX trains a U-Net 2.4x faster in bf16 +
channels_last; an AMD laptop without bf16 gains little), so the first training of a workload on a
device runs a micro-benchmark of a few seconds: the same network, the same batch, each option for a
few optimiser steps. An option is kept only when its losses match fp32's over those steps (relative
difference <= LOSS_TOLERANCE) and it beats fp32 by MIN_GAIN; the fastest kept option wins, else fp32.
The measurements are cached per machine (CPU model and flags or GPU name), device and torch version
in the user-data folder (``speed.json``), one entry per workload (model, input size, batch).

``torch.compile`` is a candidate only for long jobs (COMPILE_MIN_MINUTES), and only on top of the
fastest eager option: compiling a small U-Net took 287 s on a busy 2-core Xeon, more than a short
budget gains back.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import platform
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

LOSS_TOLERANCE = 0.02      # relative loss difference to fp32 allowed after each benchmark step
MIN_GAIN = 1.10            # an option must beat fp32 by this factor (noise on a busy machine)
COMPILE_MIN_MINUTES = 30.0 # budgets from which torch.compile is worth its compile time
AUTOTUNE_MIN_MINUTES = 0.5 # shorter jobs (tests, smoke runs) use the cached choice or the default
AUTOTUNE_MIN_STEPS = 300   # the same for jobs without a time budget (epochs x steps, or max_steps)
CACHE_NAME = "speed.json"
_CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile")


@dataclass(frozen=True)
class SpeedOption:
    """One way to run a training step."""

    name: str
    dtype: str = ""            # "" = fp32; "bf16" or "fp16" = autocast to that type
    channels_last: bool = False
    compile: bool = False

    def autocast(self, device: torch.device) -> AbstractContextManager:
        if not self.dtype:
            return nullcontext()
        dtype = torch.bfloat16 if self.dtype == "bf16" else torch.float16
        return torch.autocast(device_type=device.type, dtype=dtype)

    @property
    def needs_scaler(self) -> bool:
        return self.dtype == "fp16"

    def prepare(self, model: torch.nn.Module) -> torch.nn.Module:
        """Put ``model``'s weights in this option's memory format (in place; returns it)."""
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        return model

    def wrap(self, net: torch.nn.Module) -> torch.nn.Module:
        return torch.compile(net) if self.compile else net


FP32 = SpeedOption("fp32")


def option(name: str) -> SpeedOption:
    """Parse an option name such as ``bf16+channels_last+compile``."""
    parts = set(name.split("+"))
    unknown = parts - {"fp32", "bf16", "fp16", "channels_last", "compile"}
    if unknown or not name:
        from core.errors import ToothSegError

        raise ToothSegError(f"unknown speed option {name!r}; combine fp32|bf16|fp16 with channels_last, compile")
    dtype = "bf16" if "bf16" in parts else "fp16" if "fp16" in parts else ""
    return SpeedOption(name, dtype, "channels_last" in parts, "compile" in parts)


# ---------------------------------------------------------------------------------------- the machine
def cpu_flags() -> list[str]:
    """The CPU features that decide training speed (Linux: /proc/cpuinfo; elsewhere torch's capability)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        line = next(x for x in text.splitlines() if x.startswith("flags"))
        have = set(line.split(":", 1)[1].split())
        return [f for f in _CPU_FLAGS if f in have]
    except (OSError, StopIteration):
        cap = getattr(getattr(torch.backends, "cpu", None), "get_cpu_capability", lambda: "")()
        return [str(cap).lower()] if cap else []


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_bf16() -> bool:
    """True when oneDNN runs bf16 natively (AVX-512 BF16, AMX, or Arm bf16); emulated bf16 is slower."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return any(f in cpu_flags() for f in ("avx512_bf16", "amx_bf16"))


def machine(device: torch.device) -> dict[str, Any]:
    """What the cache is keyed by: device, its hardware, and the torch version."""
    info: dict[str, Any] = {"device": device.type, "torch": torch.__version__}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    elif device.type == "mps":
        info["chip"] = platform.machine() + " " + platform.mac_ver()[0]
    else:
        info["cpu"] = cpu_model()
        info["flags"] = cpu_flags()
    return info


def machine_key(device: torch.device) -> str:
    text = json.dumps(machine(device), sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def workload_key(model_config: dict[str, Any], size: tuple[int, int], batch: int) -> str:
    parts = [str(model_config.get("name")), f"{model_config.get('base_channels', '')}ch",
             f"{size[0]}x{size[1]}", f"b{batch}"]
    return "-".join(parts)


def candidates(device: torch.device, amp: bool = True) -> list[SpeedOption]:
    """The options worth measuring on ``device`` (fp32 first: it is the reference)."""
    names = ["fp32", "channels_last"]
    if amp and device.type == "cpu" and cpu_bf16():
        names += ["bf16", "bf16+channels_last"]
    if amp and device.type == "cuda":
        names += ["fp16", "fp16+channels_last"]
        if torch.cuda.is_bf16_supported():
            names += ["bf16", "bf16+channels_last"]
    if amp and device.type == "mps":
        names += ["fp16"]
    return [option(n) for n in names]


def with_compile(results: dict[str, dict[str, Any]]) -> SpeedOption:
    """The compiled variant of the fastest eager option measured (compiling each of them would take an
    hour on a busy 2-core machine)."""
    name, _ = choose(results, allow_compile=False)
    return option("fp32+compile" if name == "fp32" else f"{name}+compile")


def default_option(device: torch.device, amp: bool = True) -> SpeedOption:
    """Unmeasured default: CUDA mixed precision (as before autotuning), fp32 elsewhere."""
    return option("fp16") if amp and device.type == "cuda" else FP32


# ---------------------------------------------------------------------------------------- measuring
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def _steps(model: torch.nn.Module, opt: SpeedOption, device: torch.device, x: torch.Tensor, y: torch.Tensor,
           count: int) -> tuple[list[float], list[float]]:
    """``count`` optimiser steps of a fresh copy of ``model``: (losses, seconds per step)."""
    from core.train.losses import seg_loss

    m = opt.prepare(copy.deepcopy(model).to(device))
    net = opt.wrap(m)
    optim = torch.optim.AdamW(m.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler(device.type, enabled=opt.needs_scaler and device.type != "cpu")
    m.train()
    losses, times = [], []
    for _ in range(count):
        _sync(device)
        t0 = time.perf_counter()
        with opt.autocast(device):
            loss = seg_loss(net(x), y)
        optim.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optim)
        scaler.update()
        _sync(device)
        times.append(time.perf_counter() - t0)
        losses.append(float(loss.detach()))
    return losses, times


def measure(model: torch.nn.Module, device: torch.device, size: tuple[int, int], batch: int,
            options: list[SpeedOption], steps: int = 3, rounds: int = 2,
            log: Callable[[str], None] | None = None) -> dict[str, dict[str, Any]]:
    """Images per second and loss agreement with fp32 for every option on one synthetic batch.

    Each option first runs ``steps`` steps from the same weights (losses compared with fp32's; the
    first, warm-up step is not timed); then ``rounds`` interleaved rounds time one more short run each,
    and the fastest step counts, so a neighbour's burst of load on a shared machine hurts every option
    alike instead of one.
    """
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 1, *size, generator=g).to(device)
    yy = torch.linspace(-1, 1, size[0])[:, None] ** 2 + torch.linspace(-1, 1, size[1])[None] ** 2
    y = (yy < 0.3).to(torch.int64).expand(batch, *size).contiguous().to(device)  # one blob, like a gland
    results: dict[str, dict[str, Any]] = {}
    reference: list[float] = []
    for opt in options:
        try:
            losses, times = _steps(model, opt, device, x, y, steps)
        except Exception as exc:  # an option this machine or build cannot run (no compiler, no bf16 kernel)
            results[opt.name] = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"}
            continue
        if opt.name == "fp32":
            reference = losses
        worst = max((abs(a - b) / max(abs(b), 1e-6) for a, b in zip(losses, reference, strict=False)),
                    default=0.0)
        finite = all(torch.isfinite(torch.tensor(losses)))
        results[opt.name] = {"step_s": min(times[1:] or times), "loss_diff": round(worst, 5),
                             "loss_ok": bool(finite and worst <= LOSS_TOLERANCE), "first_step_s": times[0]}
    for _ in range(rounds):
        for opt in options:
            r = results[opt.name]
            if "error" in r or opt.compile:  # a fresh copy would compile again; its first steps count
                continue
            _, times = _steps(model, opt, device, x, y, 2)
            r["step_s"] = min(r["step_s"], times[-1])
    for name, r in results.items():
        if "step_s" in r:
            r["img_s"] = round(batch / r["step_s"], 3)
            r["step_s"] = round(r["step_s"], 4)
            r["first_step_s"] = round(r["first_step_s"], 3)
        if log:
            log(f"speed {name}: " + (r["error"] if "error" in r else
                                     f"{r['img_s']:.2f} img/s, loss diff {r['loss_diff']:.4f}"))
    return results


def choose(results: dict[str, dict[str, Any]], allow_compile: bool = True) -> tuple[str, float]:
    """(fastest option whose losses match fp32 and that beats it by MIN_GAIN, its speed-up over fp32)."""
    base = results.get("fp32", {}).get("img_s")
    if not base:
        return "fp32", 1.0
    best, speed = "fp32", base
    for name, r in results.items():
        if "compile" in name and not allow_compile:
            continue
        if r.get("loss_ok") and r.get("img_s", 0) > speed and r["img_s"] >= MIN_GAIN * base:
            best, speed = name, r["img_s"]
    return best, round(speed / base, 2)


# ---------------------------------------------------------------------------------------- the cache
def cache_path() -> Path:
    from core.data.project import user_data_dir

    return user_data_dir() / CACHE_NAME


def _read_cache() -> dict[str, Any]:
    try:
        data = json.loads(cache_path().read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}  # no cache yet, or a damaged one: measuring again is cheap


def cached(device: torch.device, workload: str) -> dict[str, Any] | None:
    """The stored measurement of ``workload`` on this machine, device and torch version, or None."""
    entry = _read_cache().get(machine_key(device), {})
    found = entry.get("workloads", {}).get(workload)
    return found if isinstance(found, dict) and "choice" in found else None


def store(device: torch.device, workload: str, record: dict[str, Any]) -> None:
    from core.data.atomic import atomic_write_text

    data = _read_cache()
    entry = data.setdefault(machine_key(device), {"machine": machine(device), "workloads": {}})
    entry.setdefault("workloads", {})[workload] = record
    path = cache_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(data, indent=1, sort_keys=True))


def summary(record: dict[str, Any] | None, device: torch.device | str) -> str:
    """'bf16 + channels_last on CPU, 2.4x faster' (or what is known before the first measurement)."""
    dev = torch.device(device).type
    where = {"cpu": "CPU", "cuda": "GPU", "mps": "Apple GPU"}.get(dev, dev)
    if record is None:
        return f"fastest training mode measured on the first run on this {where}"
    name = record["choice"].replace("+", " + ")
    if record["choice"] == "fp32":
        return f"fp32 on {where} (nothing measured faster)"
    return f"{name} on {where}, {record['speedup']:.1f}× faster"


def describe_for(recipe, device: str) -> str:
    """The plan's speed line for ``recipe`` on ``device`` (reads the cache only; never measures)."""
    dev = torch.device("cuda" if device == "cuda" else device if device in ("cpu", "mps") else "cpu")
    if recipe.speed not in ("auto", ""):
        return f"{recipe.speed} (set in the recipe)"
    try:
        rec = cached(dev, workload_key(recipe.model, recipe.input_hw, recipe.batch_size))
    except (RuntimeError, AssertionError):  # a device this build cannot query (CUDA asked for, none present)
        return f"speed measured on the first run on {dev.type}"
    if rec is not None:
        name, speedup = choose(rec.get("options", {}), allow_compile=recipe.max_minutes >= COMPILE_MIN_MINUTES)
        rec = {**rec, "choice": name, "speedup": speedup}
    return summary(rec, dev)


# ---------------------------------------------------------------------------------------- the decision
def autotune(recipe, device: torch.device, distributed: bool = False, total_steps: int = 0,
             log: Callable[[str], None] | None = None) -> SpeedOption:
    """The option this job trains with: the recipe's explicit choice, else the cached measurement, else
    (jobs long enough to pay for it, one process) a fresh micro-benchmark, else the unmeasured default."""
    log = log or (lambda text: None)
    if recipe.speed not in ("auto", ""):
        return option(recipe.speed)
    from core.models.registry import build_model
    from core.train.common import model_config

    work = workload_key(recipe.model, recipe.input_hw, recipe.batch_size)
    long_job = recipe.max_minutes >= AUTOTUNE_MIN_MINUTES or (
        recipe.max_minutes == 0 and total_steps >= AUTOTUNE_MIN_STEPS)
    compile_too = recipe.max_minutes >= COMPILE_MIN_MINUTES and os.environ.get("TOOTHSEG_NO_COMPILE") is None
    found = cached(device, work)
    if found is not None and (found.get("compile_tried") or not compile_too):
        name, speedup = choose(found.get("options", {}), allow_compile=compile_too)
        shown = {**found, "choice": name, "speedup": speedup}
        log(f"speed: {summary(shown, device)} (measured {found.get('measured', '?')}; cached)")
        return option(name)
    if distributed or not long_job:
        chosen = default_option(device, recipe.amp)
        log(f"speed: {chosen.name} (not measured for this job)")
        return chosen
    t0 = time.perf_counter()
    torch.manual_seed(0)
    model = build_model(model_config(recipe, 1))
    results = measure(model, device, recipe.input_hw, recipe.batch_size, candidates(device, recipe.amp), log=log)
    if compile_too:
        compiled = measure(model, device, recipe.input_hw, recipe.batch_size, [FP32, with_compile(results)],
                           steps=4, rounds=0, log=log)  # fp32 again: the loss reference of 4 steps
        results.update({k: v for k, v in compiled.items() if k != "fp32"})
    name, speedup = choose(results)
    record = {"choice": name, "speedup": speedup, "options": results, "compile_tried": compile_too,
              "measured": time.strftime("%Y-%m-%dT%H:%M:%S"), "seconds": round(time.perf_counter() - t0, 1)}
    store(device, work, record)
    log(f"speed: {summary(record, device)} (micro-benchmark {record['seconds']:.1f} s, cached in {cache_path()})")
    return option(name)
