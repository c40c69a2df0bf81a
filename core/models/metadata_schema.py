"""The schema of model metadata: every field of a checkpoint sidecar and of an ONNX model's ToothSeg
``metadata_props``, with its type and limits, checked before anything is built, allocated or run.

Metadata is input like any file a user opens: a typo or a crafted value (``"version": "abc"``,
``"classes": 5``, ``base_channels`` 1024, a 60000 x 60000 input policy, a normalisation std of 0) must
end in one clear ``ModelFileError`` line, never a traceback, a multi-GB allocation or garbage masks.
The limits bound what one network input may cost: ``base_channels x height x width`` (the first
feature map, float32) stays under ``MAX_FEATURE_ELEMENTS``, so no model description asks for more
than a few hundred MB per tensor. Torch-free, so the slim ONNX-only build checks the same way.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from core.errors import ModelFileError

SIDECAR_FORMAT, SIDECAR_VERSION = "toothseg-checkpoint", 1   # core.models.checkpoint writes these
MAX_SIDECAR_BYTES = 4 * 1024 * 1024          # a sidecar is a few kB; a larger file is not one
MAX_PROP_BYTES = 1024 * 1024                 # one ONNX metadata value
MIN_SIDE, MAX_SIDE = 16, 4096                # network input (resize size or sliding window), per side
DEFAULT_SIDE = 256                           # ... when a recipe, sidecar or plan names none (the one default)
MAX_INPUT_PIXELS = 2048 * 2048               # one network input
MAX_FEATURE_ELEMENTS = 2**26                 # base_channels x H x W: 256 MB for the first feature map
MAX_BASE_CHANNELS, MAX_DEPTH = 64, 6
MAX_CLASSES = 256                            # label maps are uint8
MAX_OVERLAP = 0.75                           # 0.99 would mean ~100x more sliding windows
STD_RANGE = (1e-3, 1e3)
MEAN_LIMIT = 1e3
MAX_TEXT = 256
MODEL_KEYS = {"name", "in_channels", "out_channels", "base_channels", "depth", "norm"}
NORMS = ("batch", "instance")
POLICY_MODES = ("resize", "sliding")
PRECISIONS = ("fp32", "int8")
SHA256 = re.compile(r"[0-9a-f]{64}")
DEFAULT_BASE_CHANNELS = 16


def _fail(where: str, text: str) -> ModelFileError:
    return ModelFileError(f"{where}: {text}")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_int(value: Any, where: str, field: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(where, f"{field} must be a whole number, got {_show(value)}")
    if not lo <= value <= hi:
        raise _fail(where, f"{field} must lie in [{lo}, {hi}], got {value}")
    return value


def check_number(value: Any, where: str, field: str, lo: float, hi: float, hi_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _fail(where, f"{field} must be a finite number, got {_show(value)}")
    if not lo <= value <= hi or (hi_open and value >= hi):
        bracket = ")" if hi_open else "]"
        raise _fail(where, f"{field} must lie in [{lo:g}, {hi:g}{bracket}, got {value:g}")
    return float(value)


def check_text(value: Any, where: str, field: str, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str):
        raise _fail(where, f"{field} must be text, got {_show(value)}")
    if len(value) > limit:
        raise _fail(where, f"{field} is longer than {limit} characters")
    return value


def check_dict(value: Any, where: str, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(where, f"{field} must be an object ({{...}}), got {_show(value)}")
    return value


def check_choice(value: Any, where: str, field: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise _fail(where, f"{field} must be one of {', '.join(choices)}, got {_show(value)}")
    return value


def check_version(value: Any, where: str, current: int) -> int:
    """A format version: a whole number >= 1; a newer one than this app reads asks for an update."""
    version = check_int(value, where, "version", 1, 2**31)
    if version > current:
        raise _fail(where, f"made by a newer ToothSeg Studio (metadata version {version}, this app reads up "
                           f"to {current}); update ToothSeg Studio")
    return version


def check_model_config(config: Any, where: str, field: str = "model", in_channels: int = 1) -> dict[str, Any]:
    """Architecture config: a registry name plus bounded sizes (the network is built from it);
    ``in_channels``: what the input must hold (1 grayscale; 3 for a numbered-teeth head: image + x, y)."""
    config = check_dict(config, where, field)
    name = config.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name):
        raise _fail(where, f"{field} name must be a model name like 'unet', got {_show(name)}")
    unknown = sorted(set(config) - MODEL_KEYS)
    if unknown:
        raise _fail(where, f"{field} has unknown keys: {', '.join(map(str, unknown))[:120]}")
    if "in_channels" in config and not (type(config["in_channels"]) is int and config["in_channels"] == in_channels):
        kind = "grayscale" if in_channels == 1 else "image + coordinates"
        raise _fail(where, f"{field} in_channels must be {in_channels} ({kind}), got {_show(config['in_channels'])}")
    if "out_channels" in config:
        check_int(config["out_channels"], where, f"{field} out_channels", 1, MAX_CLASSES)
    if "base_channels" in config:
        check_int(config["base_channels"], where, f"{field} base_channels", 1, MAX_BASE_CHANNELS)
    if "depth" in config:
        check_int(config["depth"], where, f"{field} depth", 1, MAX_DEPTH)
    if "norm" in config:
        check_choice(config["norm"], where, f"{field} norm", NORMS)
    return config


def check_size(value: Any, where: str, field: str, base_channels: int = DEFAULT_BASE_CHANNELS) -> list[int]:
    """[height, width] of one network input, bounded per side, in area and in first-feature-map size."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise _fail(where, f"{field} must be [height, width], got {_show(value)}")
    h = check_int(value[0], where, f"{field} height", MIN_SIDE, MAX_SIDE)
    w = check_int(value[1], where, f"{field} width", MIN_SIDE, MAX_SIDE)
    if h * w > MAX_INPUT_PIXELS or base_channels * h * w > MAX_FEATURE_ELEMENTS:
        mb = base_channels * h * w * 4 / 2**20
        raise _fail(where, f"{field} {h}x{w} is too large for one network input ({mb:.0f} MB for the first "
                           f"feature map; at most {MAX_INPUT_PIXELS} pixels and "
                           f"{MAX_FEATURE_ELEMENTS * 4 // 2**20} MB)")
    return [h, w]


def _check_color(value: Any, where: str, field: str) -> None:
    if (not isinstance(value, (list, tuple)) or len(value) != 3
            or any(isinstance(c, bool) or not isinstance(c, int) or not 0 <= c <= 255 for c in value)):
        raise _fail(where, f"{field} color must be [r, g, b] with 0-255 values, got {_show(value)}")


def check_classes(value: Any, where: str, out_channels: int | None) -> list[Any]:
    """Class table: names or {id, name, value, color}; one entry per output channel of a multi-channel head."""
    if not isinstance(value, list):
        raise _fail(where, f"classes must be a list of class names or objects, got {_show(value)}")
    if not 1 <= len(value) <= MAX_CLASSES:
        raise _fail(where, f"classes must hold 1 to {MAX_CLASSES} entries, got {len(value)}")
    for i, item in enumerate(value):
        field = f"classes[{i}]"
        if isinstance(item, str):
            check_text(item, where, field)
            continue
        item = check_dict(item, where, field)
        for key in ("id", "value"):
            if key in item:
                check_int(item[key], where, f"{field} {key}", 0, 255)
        if "name" in item:
            check_text(item["name"], where, f"{field} name")
        if "color" in item:
            _check_color(item["color"], where, field)
    if out_channels is not None:  # a 1-channel head: binary (background + classes) or pretraining (intensity)
        if out_channels > 1 and len(value) != out_channels:
            raise _fail(where, f"classes list {len(value)} entries for a model with {out_channels} output "
                               "channels")
    return value


def check_normalization(value: Any, where: str) -> dict[str, Any]:
    norm = check_dict(value, where, "normalization")
    for key in ("mean", "std"):
        if key not in norm:
            raise _fail(where, f"normalization lacks {key}")
    check_number(norm["mean"], where, "normalization mean", -MEAN_LIMIT, MEAN_LIMIT)
    check_number(norm["std"], where, "normalization std", *STD_RANGE)
    if "scale" in norm:
        check_text(norm["scale"], where, "normalization scale", 32)
    return norm


def check_input_policy(value: Any, where: str, base_channels: int = DEFAULT_BASE_CHANNELS) -> dict[str, Any]:
    policy = check_dict(value, where, "input_policy")
    check_choice(policy.get("mode"), where, "input_policy mode", POLICY_MODES)
    check_size(policy.get("size"), where, "input_policy size", base_channels)
    if "overlap" in policy:
        check_number(policy["overlap"], where, "input_policy overlap", 0.0, MAX_OVERLAP)
    return policy


def check_postprocess(value: Any, where: str) -> dict[str, Any]:
    post = check_dict(value, where, "postprocess")
    band = post.get("band")
    if band not in (None, []):
        if (not isinstance(band, (list, tuple)) or len(band) != 2
                or check_number(band[0], where, "postprocess band top", 0, 1)
                >= check_number(band[1], where, "postprocess band bottom", 0, 1)):
            raise _fail(where, f"postprocess band must be [top, bottom] with 0 <= top < bottom <= 1, got "
                               f"{_show(band)}")
    if "min_area_frac" in post:
        check_number(post["min_area_frac"], where, "postprocess min_area_frac", 0, 1)
    if post.get("max_components") is not None:
        check_int(post["max_components"], where, "postprocess max_components", 0, 100_000)
    if "enabled" in post and not isinstance(post["enabled"], bool):
        raise _fail(where, f"postprocess enabled must be true or false, got {_show(post['enabled'])}")
    return post


INSTANCE_KINDS = ("fdi-teeth",)
TEETH_IN_CHANNELS, TEETH_OUT_CHANNELS = 3, 19    # image + x, y; teeth, core, 4 quadrants, 13 positions


def check_instances(value: Any, where: str) -> dict[str, Any]:
    """The numbered-teeth head (``core.infer.teeth``): its kind and the separation rules it runs with."""
    spec = check_dict(value, where, "instances")
    check_choice(spec.get("kind"), where, "instances kind", INSTANCE_KINDS)
    check_number(spec.get("core_threshold"), where, "instances core_threshold", 0.0, 1.0)
    check_int(spec.get("min_area"), where, "instances min_area", 1, 1_000_000)
    check_number(spec.get("min_score", 0.0), where, "instances min_score", 0.0, 1.0)
    check_int(spec.get("window"), where, "instances window", 64, MAX_SIDE)
    return spec


def check_threshold(value: Any, where: str) -> float:
    return check_number(value, where, "threshold", 0.0, 1.0)


def _base_channels(config: dict[str, Any]) -> int:
    return int(config.get("base_channels", DEFAULT_BASE_CHANNELS))


def _optional_texts(meta: dict[str, Any], where: str, keys: tuple[str, ...]) -> None:
    for key in keys:
        if key in meta:
            check_text(meta[key], where, key, 4096)


def _optional_dicts(meta: dict[str, Any], where: str, keys: tuple[str, ...]) -> None:
    for key in keys:
        if key in meta and meta[key] is not None:
            check_dict(meta[key], where, key)


def check_sidecar(sidecar: Any, where: str, fmt: str, current: int) -> dict[str, Any]:
    """A checkpoint sidecar (``core.models.checkpoint``): every field the product reads, typed and bounded."""
    sidecar = check_dict(sidecar, where, "checkpoint description")
    if sidecar.get("format") != fmt:
        raise _fail(where, f"not a ToothSeg checkpoint (missing format '{fmt}')")
    check_version(sidecar.get("version"), where, current)
    config = check_model_config(sidecar.get("model"), where)
    out_channels = int(config.get("out_channels", 1))
    if "classes" in sidecar:
        check_classes(sidecar["classes"], where, out_channels)
    if "input_size" in sidecar:
        check_size(sidecar["input_size"], where, "input_size", _base_channels(config))
    if "input_policy" in sidecar:
        check_input_policy(sidecar["input_policy"], where, _base_channels(config))
    if "normalization" in sidecar:
        check_normalization(sidecar["normalization"], where)
    if "threshold" in sidecar:
        check_threshold(sidecar["threshold"], where)
    if "postprocess" in sidecar:
        check_postprocess(sidecar["postprocess"], where)
    sha = sidecar.get("weights_sha256")
    if not isinstance(sha, str) or not SHA256.fullmatch(sha):
        raise _fail(where, "weights_sha256 must be the 64-hex-digit SHA-256 of the weights file, got "
                           f"{_show(sha)}")
    _optional_texts(sidecar, where, ("weights_file", "fingerprint", "app_version", "mode", "labels", "data_root",
                                     "saved"))
    _optional_dicts(sidecar, where, ("recipe", "metrics", "preprocess"))
    for key in ("epoch", "step"):
        if key in sidecar:
            check_int(sidecar[key], where, key, 0, 2**62)
    return sidecar


def read_sidecar_file(path: Path, fmt: str = SIDECAR_FORMAT, current: int = SIDECAR_VERSION) -> dict[str, Any]:
    """A sidecar file read (size-limited) and checked: ``check_sidecar`` plus what inference derives from
    it (``core.models.describe.inference_meta``: the recipe's threshold and rules). Torch-free, so the
    slim build checks registered models the same way; ``core.models.checkpoint.read_sidecar`` adds the
    registry check."""
    from core.models.describe import inference_meta

    try:
        size = path.stat().st_size
        if size > MAX_SIDECAR_BYTES:
            raise _fail(path.name, f"{size} bytes is too large for a checkpoint description")
        sidecar = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else (str(exc).splitlines() or ["nested too deeply"])[0]
        raise _fail(path.name, f"not a readable checkpoint description ({reason})") from exc
    check_sidecar(sidecar, path.name, fmt, current)
    inference_meta(sidecar)
    return sidecar


def check_inference_meta(meta: Any, where: str, fmt: str, current: int) -> dict[str, Any]:
    """What inference reads (ONNX ``metadata_props``, or built from a sidecar by ``inference_meta``)."""
    meta = check_dict(meta, where, "ToothSeg metadata")
    if meta.get("format") != fmt:
        raise _fail(where, f"metadata format {_show(meta.get('format'))} is not {fmt!r}")
    check_version(meta.get("version"), where, current)
    teeth = check_instances(meta["instances"], where) if meta.get("instances") is not None else None
    config = check_model_config(meta.get("architecture"), where, "architecture",
                                TEETH_IN_CHANNELS if teeth else 1)
    if teeth and int(config.get("out_channels", 1)) != TEETH_OUT_CHANNELS:
        raise _fail(where, f"a numbered-teeth head has {TEETH_OUT_CHANNELS} output channels, the architecture "
                           f"says {config.get('out_channels')}")
    # a teeth head's classes are the FDI numbers it assigns, not its output channels
    check_classes(meta.get("classes"), where, None if teeth else int(config.get("out_channels", 1)))
    check_input_policy(meta.get("input_policy"), where, _base_channels(config))
    check_normalization(meta.get("normalization"), where)
    check_threshold(meta.get("threshold"), where)
    check_postprocess(meta.get("postprocess"), where)
    if meta.get("preprocess") is not None:
        spec = check_dict(meta["preprocess"], where, "preprocess")
        if "bilateral" in spec and not isinstance(spec["bilateral"], bool):
            raise _fail(where, f"preprocess bilateral must be true or false, got {_show(spec['bilateral'])}")
    if "precision" in meta:
        check_choice(meta["precision"], where, "precision", PRECISIONS)
    _optional_texts(meta, where, ("fingerprint", "app_version"))
    _optional_dicts(meta, where, ("metrics", "parity", "quantization"))
    trained = meta.get("trained_splits")
    if trained is not None and (not isinstance(trained, list) or not set(trained) <= {"train", "val", "test"}):
        raise _fail(where, f"trained_splits must be a list of train / val / test, got {_show(trained)}")
    return meta


def check_graph_io(inputs: list[tuple[str, str, list[Any]]], outputs: list[tuple[str, str, list[Any]]],
                   meta: dict[str, Any], where: str) -> None:
    """An ONNX graph's inputs and outputs (name, element type, dims: int, or str/None when dynamic)
    must be what its ToothSeg metadata promises: one float (N, C, H, W) input (C = architecture in_channels,
    1 unless a numbered-teeth head), float (N, K, H, W) logits with K = architecture out_channels, and
    fixed H/W only where the input policy feeds exactly that."""
    channels = int(meta["architecture"].get("out_channels", 1))
    in_channels = int(meta["architecture"].get("in_channels", 1))
    policy = meta["input_policy"]
    if len(inputs) != 1:
        raise _fail(where, f"the graph takes {len(inputs)} inputs; a ToothSeg model takes one image batch")
    if not outputs:
        raise _fail(where, "the graph has no outputs")
    for kind, (name, elem, dims), want in (("input", inputs[0], in_channels), ("output", outputs[0], channels)):
        if elem != "float":
            raise _fail(where, f"graph {kind} {name!r} is {elem}, not float32")
        if len(dims) != 4:
            raise _fail(where, f"graph {kind} {name!r} has {len(dims)} dimensions, not 4 (N, C, H, W); "
                               "the graph does not match its ToothSeg metadata")
        if isinstance(dims[1], int) and dims[1] != want:
            raise _fail(where, f"graph {kind} {name!r} has {dims[1]} channels, its metadata says {want}")
    hw_in, hw_out = inputs[0][2][2:], outputs[0][2][2:]
    if any(a is not None and b is not None and a != b for a, b in zip(hw_in, hw_out, strict=True)):
        raise _fail(where, f"the graph's output height/width {hw_out} are not its input's {hw_in}; logits must "
                           "come at the input's size, so the graph does not match its metadata")
    batch = inputs[0][2][0]
    if isinstance(batch, int) and (batch != 1 or policy["mode"] == "sliding"):
        raise _fail(where, f"the graph takes a fixed batch of {batch}; ToothSeg models need a dynamic batch "
                           "(or exactly 1 with the resize policy)")
    fixed = [d for d in inputs[0][2][2:] if isinstance(d, int)]
    if fixed:
        if policy["mode"] == "sliding":
            raise _fail(where, "the graph has a fixed input height/width; sliding windows need a dynamic one")
        if list(inputs[0][2][2:]) != list(policy["size"]):
            raise _fail(where, f"the graph's input size {inputs[0][2][2:]} differs from its input policy size "
                               f"{policy['size']}")
