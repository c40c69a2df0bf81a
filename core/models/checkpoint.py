"""Checkpoints as <stem>.safetensors (weights, never pickled) + <stem>.json (everything else).

The JSON sidecar is written last, so a checkpoint whose sidecar exists is complete; the sidecar
carries the SHA-256 of the weights so a swapped or truncated weights file is refused on load.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from core import __version__
from core.data.atomic import atomic_write_files
from core.errors import ModelFileError
from core.models.describe import DEFAULT_NORMALIZATION, default_classes, normalize_classes
from core.models.metadata_schema import (
    DEFAULT_SIDE,
    SIDECAR_FORMAT,
    SIDECAR_VERSION,
    check_sidecar,
    read_sidecar_file,
)
from core.models.registry import build_model

FORMAT = SIDECAR_FORMAT
MAX_WEIGHTS_BYTES = 2 * 2**30  # the largest registered model (ResNet-34 U-Net, 64 base channels) is < 1 GB
VERSION = SIDECAR_VERSION


def checkpoint_paths(path: str | Path) -> tuple[Path, Path]:
    """(weights, sidecar) for a path given as the .safetensors, the .json, or the bare stem."""
    path = Path(path)
    if path.suffix.lower() in (".safetensors", ".json"):
        stem = path.with_suffix("")
    else:
        stem = path
    return Path(f"{stem}.safetensors"), Path(f"{stem}.json")


def save_checkpoint(path: str | Path, model: nn.Module, config: dict[str, Any], meta: dict[str, Any],
                    also: str | Path | None = None) -> Path:
    """Write weights and sidecar atomically as a pair (a full disk changes neither); returns the sidecar path.
    ``also`` writes the same checkpoint under a second name from one serialisation (a training loop's ``last``
    and ``best``: a frozen foundation encoder makes each serialisation cost ~0.1 CPU-s)."""
    from safetensors.torch import save as st_save

    weights_path, sidecar_path = checkpoint_paths(path)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    blob = st_save(state, metadata={"format": FORMAT})
    meta = dict(meta or {})
    sidecar: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "model": dict(config),
        "classes": normalize_classes(meta.pop("classes", default_classes(int(config.get("out_channels", 1))))),
        "input_size": list(meta.pop("input_size", [DEFAULT_SIDE, DEFAULT_SIDE])),
        "normalization": dict(meta.pop("normalization", DEFAULT_NORMALIZATION)),
        "recipe": meta.pop("recipe", {}),
        "metrics": meta.pop("metrics", {}),
        "fingerprint": meta.pop("fingerprint", ""),
        "app_version": __version__,
        "weights_file": weights_path.name,
        "weights_sha256": hashlib.sha256(blob).hexdigest(),
    }
    sidecar.update(meta)
    try:
        json.dumps(sidecar)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"checkpoint metadata must be JSON-able: {exc}") from exc
    check_sidecar(sidecar, sidecar_path.name, FORMAT, VERSION)  # never write what read_sidecar would refuse
    files = [(weights_path, blob), (sidecar_path, (json.dumps(sidecar, indent=2) + "\n").encode("utf-8"))]
    if also is not None:
        also_weights, also_sidecar = checkpoint_paths(also)
        files += [(also_weights, blob),
                  (also_sidecar, (json.dumps({**sidecar, "weights_file": also_weights.name}, indent=2) + "\n")
                   .encode("utf-8"))]
    atomic_write_files(files)
    return sidecar_path


def read_sidecar(path: str | Path) -> dict[str, Any]:
    """The checkpoint's JSON description, every field checked against ``metadata_schema`` (types and
    limits) before anything is built from it; ModelFileError when missing/foreign/corrupt/out of range."""
    _, sidecar_path = checkpoint_paths(path)
    if not sidecar_path.is_file():
        raise ModelFileError(f"{sidecar_path.name}: checkpoint description not found beside {Path(path).name}")
    from core.models.registry import model_names

    sidecar = read_sidecar_file(sidecar_path, FORMAT, VERSION)
    if sidecar["model"]["name"] not in model_names():
        raise ModelFileError(f"{sidecar_path.name}: unknown model '{sidecar['model']['name']}'; known models: "
                             f"{', '.join(model_names())}")
    return sidecar


def read_weights(path: str | Path, expected_sha256: str | None = None) -> dict[str, torch.Tensor]:
    """Tensors from a .safetensors file (or a checkpoint stem/sidecar); never unpickles anything.

    With ``expected_sha256`` (the sidecar's) a swapped or truncated file is refused; weights holding
    NaN or infinite values are refused too (they would predict garbage without an error).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load as st_load

    weights_path, _ = checkpoint_paths(path)
    try:
        size = weights_path.stat().st_size
        if size > MAX_WEIGHTS_BYTES:
            raise ModelFileError(f"{weights_path.name}: {size / 2**30:.1f} GB is larger than any ToothSeg model "
                                 f"({MAX_WEIGHTS_BYTES // 2**30} GB at most)")
        blob = weights_path.read_bytes()
    except FileNotFoundError as exc:
        raise ModelFileError(f"{weights_path.name}: weights file not found") from exc
    except OSError as exc:
        raise ModelFileError(f"{weights_path.name}: cannot read weights ({exc.strerror})") from exc
    if expected_sha256 and hashlib.sha256(blob).hexdigest() != expected_sha256:
        raise ModelFileError(f"{weights_path.name}: weights do not match their description (corrupt or replaced)")
    try:
        tensors = st_load(blob)
    except (SafetensorError, ValueError, RuntimeError, TypeError) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise ModelFileError(f"{weights_path.name}: not a valid safetensors weights file ({first})") from exc
    bad = [name for name, t in tensors.items() if t.is_floating_point() and not bool(torch.isfinite(t).all())]
    if bad:
        raise ModelFileError(f"{weights_path.name}: {len(bad)} weight tensor(s) hold NaN or infinite values "
                             f"(first: {bad[0]}); the model is broken")
    return tensors


def load_checkpoint(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model from its sidecar config and load its weights strictly; model is in eval mode."""
    sidecar = read_sidecar(path)
    state = read_weights(path, sidecar["weights_sha256"])
    model = build_model(sidecar["model"])
    wrong = [k for k, v in model.state_dict().items() if k in state and state[k].dtype != v.dtype]
    if wrong:
        raise ModelFileError(f"{Path(path).name}: weights {wrong[0]} is {state[wrong[0]].dtype}, the model needs "
                             f"{model.state_dict()[wrong[0]].dtype}")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise ModelFileError(f"{Path(path).name}: weights do not fit model {sidecar['model']}: {first}") from exc
    return model.eval(), sidecar


def load_pretrained(model: nn.Module, path: str | Path, skip_prefixes: tuple[str, ...] = ()) -> dict[str, Any]:
    """Load every tensor whose name and shape match (e.g. MIM encoder+decoder) and report the rest.

    The checkpoint's description is checked and its weights must match their checksum, as for
    prediction. At least one convolution or linear kernel must match (a bias, batch-norm counter or
    statistic matching by chance does not count), else the checkpoint is for another architecture
    and ModelFileError says so.
    Returns {"loaded": [names], "skipped": [(name, reason)]}; reasons are "shape mismatch ...",
    "missing in checkpoint", "not in model" or "excluded by prefix".
    """
    sidecar = read_sidecar(path)
    source = read_weights(path, sidecar["weights_sha256"])
    target = model.state_dict()
    kernels = {name for name, p in model.named_parameters() if p.dim() >= 2}  # conv / linear weights
    loaded: list[str] = []
    skipped: list[tuple[str, str]] = []
    merged = dict(target)
    for name, tensor in target.items():
        if skip_prefixes and name.startswith(tuple(skip_prefixes)):
            skipped.append((name, "excluded by prefix"))
        elif name not in source:
            skipped.append((name, "missing in checkpoint"))
        elif tuple(source[name].shape) != tuple(tensor.shape):
            skipped.append((name, f"shape mismatch: checkpoint {tuple(source[name].shape)} vs model "
                                  f"{tuple(tensor.shape)}"))
        elif source[name].is_floating_point() != tensor.is_floating_point():
            skipped.append((name, f"type mismatch: checkpoint {source[name].dtype} vs model {tensor.dtype}"))
        else:
            merged[name] = source[name].to(tensor.dtype)
            loaded.append(name)
    skipped.extend((name, "not in model") for name in source if name not in target)
    if not any(name in kernels for name in loaded):
        only = f" (only {len(loaded)} biases, batch-norm counters or statistics did)" if loaded else ""
        raise ModelFileError(f"{Path(path).name}: no weight tensor matches this model{only}; is it the right "
                             "architecture?")
    model.load_state_dict(merged, strict=True)
    return {"loaded": loaded, "skipped": skipped}
