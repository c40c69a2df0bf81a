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
from core.data.atomic import atomic_write_bytes, atomic_write_json
from core.errors import ModelFileError
from core.models.describe import DEFAULT_NORMALIZATION, default_classes, normalize_classes
from core.models.registry import build_model

FORMAT = "toothseg-checkpoint"
VERSION = 1


def checkpoint_paths(path: str | Path) -> tuple[Path, Path]:
    """(weights, sidecar) for a path given as the .safetensors, the .json, or the bare stem."""
    path = Path(path)
    if path.suffix.lower() in (".safetensors", ".json"):
        stem = path.with_suffix("")
    else:
        stem = path
    return Path(f"{stem}.safetensors"), Path(f"{stem}.json")


def save_checkpoint(path: str | Path, model: nn.Module, config: dict[str, Any], meta: dict[str, Any]) -> Path:
    """Write weights then sidecar atomically; returns the sidecar path."""
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
        "input_size": list(meta.pop("input_size", [256, 256])),
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
    atomic_write_bytes(weights_path, blob)
    atomic_write_json(sidecar_path, sidecar)
    return sidecar_path


def read_sidecar(path: str | Path) -> dict[str, Any]:
    """The checkpoint's JSON description, validated; ModelFileError when missing/foreign/corrupt."""
    _, sidecar_path = checkpoint_paths(path)
    if not sidecar_path.is_file():
        raise ModelFileError(f"{sidecar_path.name}: checkpoint description not found beside {Path(path).name}")
    try:
        sidecar = json.loads(sidecar_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{sidecar_path.name}: not a readable checkpoint description ({exc})") from exc
    if not isinstance(sidecar, dict) or sidecar.get("format") != FORMAT:
        raise ModelFileError(f"{sidecar_path.name}: not a ToothSeg checkpoint (missing format '{FORMAT}')")
    if int(sidecar.get("version", 0)) > VERSION:
        raise ModelFileError(
            f"{sidecar_path.name}: checkpoint version {sidecar.get('version')} is newer than this app "
            f"supports ({VERSION}); update ToothSeg Studio"
        )
    if not isinstance(sidecar.get("model"), dict):
        raise ModelFileError(f"{sidecar_path.name}: checkpoint has no model config")
    return sidecar


def read_weights(path: str | Path, expected_sha256: str | None = None) -> dict[str, torch.Tensor]:
    """Tensors from a .safetensors file (or a checkpoint stem/sidecar); never unpickles anything."""
    from safetensors import SafetensorError
    from safetensors.torch import load as st_load

    weights_path, _ = checkpoint_paths(path)
    try:
        blob = weights_path.read_bytes()
    except FileNotFoundError as exc:
        raise ModelFileError(f"{weights_path.name}: weights file not found") from exc
    except OSError as exc:
        raise ModelFileError(f"{weights_path.name}: cannot read weights ({exc.strerror})") from exc
    if expected_sha256 and hashlib.sha256(blob).hexdigest() != expected_sha256:
        raise ModelFileError(f"{weights_path.name}: weights do not match their description (corrupt or replaced)")
    try:
        return st_load(blob)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise ModelFileError(f"{weights_path.name}: not a valid safetensors weights file ({exc})") from exc


def load_checkpoint(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model from its sidecar config and load its weights strictly; model is in eval mode."""
    sidecar = read_sidecar(path)
    state = read_weights(path, sidecar.get("weights_sha256"))
    model = build_model(sidecar["model"])
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise ModelFileError(f"{Path(path).name}: weights do not fit model {sidecar['model']}: {first}") from exc
    return model.eval(), sidecar


def load_pretrained(model: nn.Module, path: str | Path, skip_prefixes: tuple[str, ...] = ()) -> dict[str, Any]:
    """Load every tensor whose name and shape match (e.g. MIM encoder+decoder) and report the rest.

    Returns {"loaded": [names], "skipped": [(name, reason)]}; reasons are "shape mismatch ...",
    "missing in checkpoint", "not in model" or "excluded by prefix".
    """
    source = read_weights(path)
    target = model.state_dict()
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
        else:
            merged[name] = source[name].to(tensor.dtype)
            loaded.append(name)
    skipped.extend((name, "not in model") for name in source if name not in target)
    if not loaded:
        raise ModelFileError(f"{Path(path).name}: no tensor matches this model; is it the right architecture?")
    model.load_state_dict(merged, strict=True)
    return {"loaded": loaded, "skipped": skipped}
