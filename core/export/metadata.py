"""What an exported model says about itself: ONNX ``metadata_props`` readable without guessing.

Every field is checked against ``core.models.metadata_schema`` when read (``from_props``) and when
built from a checkpoint (``inference_meta``), so nothing downstream trusts a value it did not check.

Each key holds a JSON value (so Netron and other tools show it as text). The same dictionary
drives the PyTorch backend (built from a checkpoint sidecar), so both backends preprocess, tile
and post-process identically.
"""

from __future__ import annotations

import json
from typing import Any

from core import __version__
from core.errors import ModelFileError
from core.infer.postprocess import DEFAULT_MIN_AREA_FRAC
from core.models.describe import DEFAULT_NORMALIZATION, default_classes, normalize_classes
from core.models.metadata_schema import MAX_PROP_BYTES, check_inference_meta
from core.preprocess import preprocess_spec

FORMAT = "toothseg-onnx"
VERSION = 1
REQUIRED = ("format", "version", "architecture", "classes", "input_policy", "normalization", "threshold",
            "postprocess")
KEYS = REQUIRED + ("fingerprint", "metrics", "app_version", "precision", "parity", "quantization", "preprocess",
                   "quality")  # quality: the calibrated Dice estimate (core.infer.quality), read leniently


def input_policy(sidecar: dict[str, Any], mode: str | None = None, overlap: float | None = None,
                 size: list[int] | None = None) -> dict[str, Any]:
    """How images reach the network: resized to ``size``, or tiled in windows of ``size`` with overlap.
    Values are passed through as given; ``check_inference_meta`` bounds them (see ``inference_meta``)."""
    given = sidecar.get("input_policy") if isinstance(sidecar.get("input_policy"), dict) else {}
    size = size or given.get("size") or sidecar.get("input_size") or [256, 256]
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
    return meta


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
