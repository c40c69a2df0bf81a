"""The inference description: what a model says about how it is run, below both train and infer.

Class tables, normalisation, input policy (resize or sliding window and the network size), pre- and
post-processing rules and the threshold. Training writes it into the checkpoint sidecar
(``inference_meta``), the exporter carries it unchanged into ONNX ``metadata_props`` (``to_props``),
and every backend reads it back (``inference_meta`` / ``from_props``); each field is checked against
``core.models.metadata_schema`` when read and when built, so nothing downstream trusts a value it did
not check. Each ONNX key holds a JSON value (Netron and other tools show it as text).

Torch-free, so the slim "viewer + inference" build (ONNX Runtime, no PyTorch) reads and writes it.
"""

from __future__ import annotations

import json
from typing import Any

from core import __version__
from core.errors import ModelFileError
from core.models.metadata_schema import DEFAULT_SIDE, MAX_PROP_BYTES, check_inference_meta
from core.preprocess import preprocess_spec

DEFAULT_MIN_AREA_FRAC = 0.001   # post-processing drops components smaller than this fraction of the image
DEFAULT_NORMALIZATION = {"mean": 0.5, "std": 0.25}
PALETTE = [(0, 0, 0), (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
           (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212)]


def default_classes(out_channels: int) -> list[dict[str, Any]]:
    """Background + one class per extra channel (a 1-channel binary head means background/foreground)."""
    count = 2 if out_channels == 1 else out_channels
    names = ["background", "foreground"] if count == 2 else ["background"] + [f"class {i}" for i in range(1, count)]
    return [{"id": i, "name": n, "color": list(PALETTE[i % len(PALETTE)])} for i, n in enumerate(names)]


def normalize_classes(classes: list[Any]) -> list[dict[str, Any]]:
    """Accept names or dicts; always return [{"id", "name", "color", ...}] so nothing is guessed later."""
    out = []
    for i, item in enumerate(classes):
        entry = {"name": item} if isinstance(item, str) else dict(item)
        entry.setdefault("id", i)
        entry.setdefault("name", f"class {entry['id']}")
        entry.setdefault("color", list(PALETTE[int(entry["id"]) % len(PALETTE)]))
        out.append(entry)
    return out


FORMAT = "toothseg-onnx"
VERSION = 1
REQUIRED = ("format", "version", "architecture", "classes", "input_policy", "normalization", "threshold",
            "postprocess")
KEYS = REQUIRED + ("fingerprint", "metrics", "app_version", "precision", "parity", "quantization", "preprocess",
                   "quality",    # quality: the calibrated Dice estimate (core.infer.quality), read leniently
                   "instances",  # instances: a numbered-teeth head's separation rules (core.infer.teeth)
                   "trained_splits")  # splits whose images trained the model, when not "train" alone


def input_policy(sidecar: dict[str, Any], mode: str | None = None, overlap: float | None = None,
                 size: list[int] | None = None) -> dict[str, Any]:
    """How images reach the network: resized to ``size``, or tiled in windows of ``size`` with overlap.
    Values are passed through as given; ``check_inference_meta`` bounds them (see ``inference_meta``)."""
    given = sidecar.get("input_policy") if isinstance(sidecar.get("input_policy"), dict) else {}
    size = size or given.get("size") or sidecar.get("input_size") or [DEFAULT_SIDE, DEFAULT_SIDE]
    mode = mode or given.get("mode") or "resize"
    policy: dict[str, Any] = {"mode": mode, "size": list(size) if isinstance(size, (list, tuple)) else size}
    if mode == "sliding":
        policy["overlap"] = overlap if overlap is not None else given.get("overlap", 0.25)
    return policy


def inference_meta(sidecar: dict[str, Any], **policy_args: Any) -> dict[str, Any]:
    """Everything inference needs, from a checkpoint sidecar (see core.models.checkpoint), checked
    against the metadata schema (the sidecar's recipe and the caller's policy overrides included)."""
    config = dict(sidecar["model"])
    recipe = sidecar.get("recipe") if isinstance(sidecar.get("recipe"), dict) else {}
    post = {"band": recipe.get("band") or None, "min_area_frac": recipe.get("min_area_frac", DEFAULT_MIN_AREA_FRAC)}
    post.update(sidecar.get("postprocess") or {})
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "architecture": config,
        "classes": sidecar.get("classes") or default_classes(int(config.get("out_channels", 1))),
        "input_policy": input_policy(sidecar, **policy_args),
        "normalization": dict(sidecar.get("normalization") or DEFAULT_NORMALIZATION),
        "preprocess": preprocess_spec(recipe),
        "threshold": sidecar.get("threshold", recipe.get("threshold", 0.5)),
        "postprocess": post,
        "fingerprint": sidecar.get("fingerprint", ""),
        "metrics": sidecar.get("metrics", {}),
        "app_version": __version__,
        "precision": "fp32",
    }
    check_inference_meta(meta, str(sidecar.get("weights_file") or "checkpoint"), FORMAT, VERSION)
    meta["classes"] = normalize_classes(meta["classes"])
    meta["threshold"] = float(meta["threshold"])
    if isinstance(sidecar.get("quality"), dict):
        meta["quality"] = sidecar["quality"]
    splits = trained_splits(recipe)
    if splits != ["train"]:  # evaluation then counts the val split's images as training images
        meta["trained_splits"] = splits
    return meta


def trained_splits(recipe: dict[str, Any] | None) -> list[str]:
    """The splits whose images trained a run, from its recipe: the val split too when ``val_trains`` (ADR 0015:
    cross-validation, not the val split, measures such a model)."""
    return ["train", "val"] if isinstance(recipe, dict) and recipe.get("val_trains") else ["train"]


def to_props(meta: dict[str, Any]) -> dict[str, str]:
    return {key: json.dumps(value) for key, value in meta.items()}


def from_props(props: dict[str, str], name: str = "model") -> dict[str, Any]:
    """Parse metadata_props and check every field against the schema; a foreign ONNX file, damaged
    JSON or out-of-range values get one clear ModelFileError."""
    if "format" not in props:
        raise ModelFileError(
            f"{name}: an ONNX model without ToothSeg metadata (not exported by `toothseg export`); "
            "its classes, input size and normalisation are unknown, so it is not used"
        )
    big = [key for key in KEYS if len(props.get(key, "")) > MAX_PROP_BYTES]
    if big:
        raise ModelFileError(f"{name}: ToothSeg metadata {big[0]} is larger than {MAX_PROP_BYTES // 1024} kB")
    try:
        meta = {key: json.loads(value) for key, value in props.items() if key in KEYS}
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ModelFileError(f"{name}: damaged ToothSeg metadata ({(str(exc).splitlines() or ['nested'])[0]})") from exc
    if meta.get("format") != FORMAT:
        raise ModelFileError(f"{name}: metadata format {meta.get('format')!r} is not {FORMAT!r}")
    missing = [k for k in REQUIRED if k not in meta]
    if missing:
        raise ModelFileError(f"{name}: ToothSeg metadata lacks {', '.join(missing)}")
    check_inference_meta(meta, name, FORMAT, VERSION)
    meta["classes"] = normalize_classes(meta["classes"])
    return meta
