"""Type checks for a project file's content, before any of it is used.

Valid JSON of the wrong shape (``"splits": [1, 2]``, ``"version": "abc"``) must not reach the code
that uses it: each field is checked here and the first wrong one is named in a ProjectFileError.
Nothing is written; the caller leaves the file untouched. Unknown keys are ignored (a newer minor
format may add some).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from core.data.sample import SPLITS, STATUSES
from core.errors import ProjectFileError

_COLOR = re.compile(r"^#[0-9A-Fa-f]{6}$")
_MODEL_TEXT = ("name", "path", "mode", "created", "onnx", "fingerprint")
_MODEL_MAPS = ("metrics", "extra")


def validate_project(data: Any, path: Path, fmt: str, newest: int) -> None:
    """Raise ProjectFileError naming the first field of ``data`` that has the wrong type or value."""
    if not isinstance(data, dict) or data.get("format") != fmt:
        raise ProjectFileError(f"{path} is not a ToothSeg project file")
    version = data.get("version")
    if not _is_int(version) or version < 1:
        _bad(path, "version", "a whole number from 1", version)
    if version > newest:
        raise ProjectFileError(f"{path} was written by a newer ToothSeg Studio (version {version}); "
                               "it was left untouched")
    classes = data.get("classes", [])
    if not isinstance(classes, list):
        _bad(path, "classes", "a list of {value, name, color}", classes)
    values = set()
    for i, c in enumerate(classes):
        if not isinstance(c, dict):
            _bad(path, f"classes[{i}]", "an object {value, name, color}", c)
        if not _is_int(c.get("value")) or not 0 < c["value"] < 256:
            _bad(path, f"classes[{i}].value", "a label value 1-255", c.get("value"))
        if c["value"] in values:
            _bad(path, f"classes[{i}].value", "a value no other class has", c["value"])
        values.add(c["value"])
        if not isinstance(c.get("name"), str):
            _bad(path, f"classes[{i}].name", "text", c.get("name"))
        if not isinstance(c.get("color"), str) or not _COLOR.match(c["color"]):
            _bad(path, f"classes[{i}].color", "a colour like #E69F00", c.get("color"))
    _check_map(path, data, "splits", SPLITS)
    _check_map(path, data, "status", STATUSES)
    models = data.get("models", [])
    if not isinstance(models, list):
        _bad(path, "models", "a list of model entries", models)
    for i, m in enumerate(models):
        if not isinstance(m, dict):
            _bad(path, f"models[{i}]", "an object", m)
        unknown = sorted(set(m) - set(_MODEL_TEXT) - set(_MODEL_MAPS))
        if unknown:
            _bad(path, f"models[{i}]", f"only the keys {', '.join(_MODEL_TEXT + _MODEL_MAPS)}", unknown[0])
        for key in _MODEL_TEXT:
            if (key in m or key in _MODEL_TEXT[:4]) and not isinstance(m.get(key), str):
                _bad(path, f"models[{i}].{key}", "text", m.get(key))
        for key in _MODEL_MAPS:
            if key in m and not isinstance(m[key], dict):
                _bad(path, f"models[{i}].{key}", "an object", m[key])
    if not isinstance(data.get("active_model", ""), str):
        _bad(path, "active_model", "a model name (text)", data.get("active_model"))
    seed = data.get("split_seed")
    if seed is not None and not _is_int(seed):
        _bad(path, "split_seed", "a whole number or null", seed)
    if not isinstance(data.get("extra", {}), dict):
        _bad(path, "extra", "an object", data.get("extra"))


def _check_map(path: Path, data: dict, key: str, allowed: tuple[str, ...]) -> None:
    value = data.get(key, {})
    if not isinstance(value, dict):
        _bad(path, key, f"an object mapping sample ids to {'/'.join(allowed)}", value)
    for sample_id, v in value.items():
        if v not in allowed:
            _bad(path, f"{key}[{sample_id!r}]", "one of " + "/".join(allowed), v)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _bad(path: Path, field: str, expected: str, got: Any) -> None:
    shown = repr(got)
    shown = shown if len(shown) <= 40 else shown[:37] + "..."
    raise ProjectFileError(f"{path}: '{field}' must be {expected}, found {type(got).__name__} {shown}; "
                           "the file was left untouched (fix or remove it)")
