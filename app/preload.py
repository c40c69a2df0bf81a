"""Imports that hold the GIL for seconds are done while the window is built, before it is shown.

A worker thread cannot hide them. ``import onnx`` pulls in ``ml_dtypes``, whose C extension registers
its numpy ufunc loops in one call that holds the GIL for 1-4 s (measured with a UI heartbeat and
``perf``, issue 19); ONNX Runtime's pybind module init holds it for a further 0.2 s. Imported from a
worker at the first Predict or Train, they froze the window exactly as on the UI thread. At start-up,
next to PyTorch (which ``torch_available()`` imports there), they cost start-up time only; the
Python-heavy imports that do release the GIL (training loop, exporters) stay lazy in the workers.
"""

from __future__ import annotations

import gc
import importlib
import logging
import sys

log = logging.getLogger("toothseg.app")
GIL_BOUND = ("onnx", "onnxruntime")
# Every call from Python into Qt releases the GIL and takes it back; with a worker busy in Python or numpy
# each take-back waits up to the interpreter's switch interval (5 ms by default), and a repaint makes
# dozens of them (a list delegate asks the model for every row and role). 1 ms keeps that convoy short.
SWITCH_INTERVAL_S = 0.001
# Imported on the UI thread when a folder opens (training plan, warm start, model table) and at the first
# Train; the folder-open worker imports them first, so the UI thread finds them ready.
WARM = ("PIL.Image", "PIL.PngImagePlugin", "core.infer.ort_session", "core.hitl.model_store", "core.models.checkpoint",
        "core.models.unet", "core.models.variants", "core.models.resnet_unet", "core.train.speed",
        # the training loop (albumentations, pydantic: 0.8 s of Python): imported by the first Train's worker,
        # it kept the GIL from the UI thread painting the Training dock (~125 ms frozen; issue 19)
        "core.train.loop")


def prepare_ui_thread() -> list[str]:
    """Shorter GIL hand-overs for the UI thread, then ``preload_gil_bound()``."""
    sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
    return preload_gil_bound()


def preload_gil_bound() -> list[str]:
    """Import ``GIL_BOUND`` modules now; returns those that are missing (the slim build has no onnx).
    A missing or broken module is reported where it is used, with its own message."""
    missing = []
    for name in GIL_BOUND:
        try:
            importlib.import_module(name)
        except Exception as exc:  # ImportError, or OSError from a broken native library
            log.info("not preloaded: %s (%s)", name, exc)
            missing.append(name)
    return missing


def warm_imports() -> None:
    """Import ``WARM`` (on a worker thread; these release the GIL as they go). The slim build lacks some."""
    for name in WARM:
        try:
            importlib.import_module(name)
        except Exception as exc:
            log.info("not warmed: %s (%s)", name, exc)


def warm_foundation_check() -> None:
    """Hash LiteMedSAM's 39 MB checkpoint here (a worker) once per process: the training plan asks
    whether it verifies when a folder opens, and on the UI thread that took ~90 ms (issue 19)."""
    try:
        from core.hitl.plan import foundation_available

        foundation_available()
    except Exception as exc:  # the slim build has no training plan; the plan reports its own errors
        log.info("foundation check not warmed: %s", exc)


def settle_heap() -> int:
    """Put everything alive after start-up (PyTorch, ONNX, Qt wrappers: ~230,000 objects) out of the
    cyclic garbage collector's reach; returns how many objects that is. Without it a full collection
    walked them for ~250 ms from whichever thread triggered it (GIL held), freezing the window at random
    moments (issue 19, measured with perf: ``gc_collect_main`` on the UI thread while a folder opened).
    Called once by the app's entry point, not by ``MainWindow``: tests build hundreds of windows whose
    garbage must stay collectable."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
