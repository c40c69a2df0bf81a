"""What this installation can do: the slim "viewer + inference" build ships without PyTorch.

The GUI asks ``torch_available()`` before offering training or export, and shows
``TRAINING_NEEDS_FULL_BUILD`` instead of failing with an ImportError deep inside a worker.
Everything here is import-safe: probing never raises, and the answer is cached because a real
``import torch`` costs a second or two.
"""

from __future__ import annotations

import importlib
import json
import sys
from functools import cache
from pathlib import Path

BUILD_INFO = "toothseg_build.json"  # written into a bundle by packaging/build.py
TRAINING_NEEDS_FULL_BUILD = (
    "Training and ONNX export need PyTorch, which this slim 'viewer + inference' build of ToothSeg Studio "
    "does not include. Annotation, prediction with exported .onnx models and the review queue work here; "
    "install the full build to train on your labels."
)


@cache
def torch_import_error() -> str | None:
    """None when PyTorch imports, else why not (missing module, broken DLL, blocked import)."""
    try:
        importlib.import_module("torch")
    except Exception as exc:  # ImportError, or OSError when a DLL of a broken install fails to load
        return f"{type(exc).__name__}: {exc}"
    return None


def torch_available() -> bool:
    """True when PyTorch can be imported (cached after the first call)."""
    return torch_import_error() is None


def bundle_dir() -> Path | None:
    """The PyInstaller bundle's data folder when running frozen, else None."""
    base = getattr(sys, "_MEIPASS", None)
    return Path(base) if getattr(sys, "frozen", False) and base else None


@cache
def build_info() -> dict[str, str]:
    """``{"variant": "full"|"slim", ...}`` for a bundle; ``{"variant": "source"}`` when run from a checkout."""
    base = bundle_dir()
    if base is None:
        return {"variant": "source"}
    try:
        data = json.loads((base / BUILD_INFO).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"variant": "unknown"}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {"variant": "unknown"}


def is_slim_build() -> bool:
    """True in the slim bundle (built without PyTorch) or wherever PyTorch cannot be imported."""
    return build_info().get("variant") == "slim" or not torch_available()
