"""ONNX Runtime sessions tuned for laptops: physical-core threads, full graph optimisation, and a GPU
provider when one is really present, with the chosen provider reported (never a silently unused GPU).
"""

from __future__ import annotations

import logging
import os
import platform
import subprocess
from pathlib import Path

from core.errors import ModelFileError

log = logging.getLogger("toothseg.infer")
PREFERRED_PROVIDERS = ("CUDAExecutionProvider", "DmlExecutionProvider", "CoreMLExecutionProvider",
                       "CPUExecutionProvider")


def physical_cores() -> int:
    """Physical CPU cores (hyper-threads slow ORT's conv kernels down); TOOTHSEG_THREADS overrides."""
    if os.environ.get("TOOTHSEG_THREADS", "").isdigit():
        return max(1, int(os.environ["TOOTHSEG_THREADS"]))
    logical = os.cpu_count() or 1
    try:
        if platform.system() == "Linux":
            cores = set()
            phys = core = None
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("physical id"):
                    phys = line.split(":")[1].strip()
                elif line.startswith("core id"):
                    core = line.split(":")[1].strip()
                    cores.add((phys, core))
            allowed = len(os.sched_getaffinity(0))
            return max(1, min(len(cores) or logical, allowed))
        if platform.system() == "Darwin":
            out = subprocess.run(["sysctl", "-n", "hw.physicalcpu"], capture_output=True, text=True, timeout=5)
            return max(1, int(out.stdout.strip()))
    except (OSError, ValueError, subprocess.SubprocessError):
        pass
    return logical


def choose_providers(requested: list[str] | None = None) -> list[str]:
    import onnxruntime as ort

    available = ort.get_available_providers()
    wanted = requested or [p for p in PREFERRED_PROVIDERS if p in available]
    missing = [p for p in wanted if p not in available]
    if missing:
        raise ModelFileError(f"execution provider(s) {', '.join(missing)} not available; have {', '.join(available)}")
    return wanted


def make_session(model: bytes | str | Path, providers: list[str] | None = None, threads: int | None = None,
                 name: str = "model"):
    """An InferenceSession; corrupt or foreign files become ModelFileError. Returns (session, provider)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads or physical_cores()
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 4  # fatal only: a failing run is reported once, as ModelFileError, not on stderr
    source = str(model) if isinstance(model, Path) else model
    try:
        session = ort.InferenceSession(source, sess_options=opts, providers=choose_providers(providers))
    except ModelFileError:
        raise
    except Exception as exc:  # ORT raises its own Fail/InvalidProtobuf/NoSuchFile types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFileError(f"{name}: not a usable ONNX model ({first})") from exc
    provider = session.get_providers()[0]
    log.info("ONNX Runtime runs %s on %s with %d threads", name, provider, opts.intra_op_num_threads)
    return session, provider
