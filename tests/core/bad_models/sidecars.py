"""Malformed checkpoint sidecars (``last.json``) of the bad-model corpus: wrong versions, classes, sizes,
normalisation, policies, thresholds, truncated or foreign JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.core.bad_input_cases import Case, Inputs
from tests.core.bad_models.env import CHECKPOINT_RUNS, ModelEnv, copied_inputs

Mutation = Callable[[dict[str, Any]], Any]


def put(path: str, value: Any) -> Mutation:
    """Set ``a.b.c`` in the sidecar (creating objects on the way)."""
    def mutate(meta: dict[str, Any]) -> dict[str, Any]:
        *parents, last = path.split(".")
        node = meta
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
        return meta
    return mutate


def drop(path: str) -> Mutation:
    def mutate(meta: dict[str, Any]) -> dict[str, Any]:
        *parents, last = path.split(".")
        node = meta
        for key in parents:
            node = node[key]
        node.pop(last)
        return meta
    return mutate


def sidecar_case(name: str, mutate: Mutation, says: str, **kwargs: Any) -> Case:
    """``last.json`` of a copied run rewritten by ``mutate`` (a dict, any JSON value, or raw text/bytes)."""
    def build(root: Path, env: ModelEnv) -> Inputs:
        run = env.copy_run(root / "run")
        side = run / "last.json"
        new = mutate(json.loads(side.read_text()))
        if isinstance(new, bytes):
            side.write_bytes(new)
        else:
            side.write_text(new if isinstance(new, str) else json.dumps(new))
        return copied_inputs(root, env, run)
    return Case(f"sidecar-{name}", build, dict(CHECKPOINT_RUNS), says=says, **kwargs)


def _classes(n: int) -> Mutation:
    return put("classes", [f"class {i}" for i in range(n)])


SIDECAR_CASES = [
    sidecar_case("version-abc", put("version", "abc"), "version must be a whole number"),
    sidecar_case("version-99", put("version", 99), "newer toothseg studio"),
    sidecar_case("version-0", put("version", 0), "version must lie in"),
    sidecar_case("version-float", put("version", 1.5), "version must be a whole number"),
    sidecar_case("format-missing", drop("format"), "not a toothseg checkpoint"),
    sidecar_case("top-level-list", lambda m: [m], "must be an object"),
    sidecar_case("json-truncated", lambda m: json.dumps(m)[:200], "not a readable checkpoint"),
    sidecar_case("json-deep-nesting", lambda m: "[" * 100_000 + "]" * 100_000, "not a readable checkpoint"),
    sidecar_case("not-utf8", lambda m: b"\xff\xfe\x00{" + json.dumps(m).encode("utf-16-le"),
                 "not a readable checkpoint"),
    sidecar_case("huge-file", put("fingerprint", "x" * (5 * 2**20)), "too large"),
    sidecar_case("classes-int-5", put("classes", 5), "classes must be a list"),
    sidecar_case("classes-empty", put("classes", []), "1 to 256 entries"),
    sidecar_case("classes-300", _classes(300), "1 to 256 entries"),
    sidecar_case("class-color-text", put("classes", [{"id": 0, "name": "bg"}, {"id": 1, "color": "red"}]),
                 "color must be [r, g, b]"),
    sidecar_case("class-value-300", put("classes", [{"id": 0}, {"id": 1, "value": 300}]), "value must lie in"),
    sidecar_case("class-name-long", put("classes", ["bg", "t" * 10_000]), "longer than"),
    sidecar_case("classes-vs-channels", lambda m: _classes(2)(put("model.out_channels", 3)(m)),
                 "entries for a model with 3 output channels"),
    sidecar_case("model-text", put("model", "unet"), "model must be an object"),
    sidecar_case("model-unknown-name", put("model.name", "vit_huge"), "unknown model 'vit_huge'"),
    sidecar_case("model-name-path", put("model.name", "../../evil"), "model name must be"),
    sidecar_case("model-extra-key", put("model.dropout", 0.5), "unknown keys: dropout"),
    sidecar_case("base-channels-minus-4", put("model.base_channels", -4), "base_channels must lie in [1, 64]"),
    sidecar_case("base-channels-1024", put("model.base_channels", 1024), "base_channels must lie in [1, 64]"),
    sidecar_case("base-channels-text", put("model.base_channels", "16"), "base_channels must be a whole number"),
    sidecar_case("in-channels-3", put("model.in_channels", 3), "in_channels must be 1"),
    sidecar_case("out-channels-0", put("model.out_channels", 0), "out_channels must lie in"),
    sidecar_case("depth-99", put("model.depth", 99), "depth must lie in"),
    sidecar_case("norm-bogus", put("model.norm", "group"), "norm must be one of"),
    sidecar_case("input-size-0x0", put("input_size", [0, 0]), "input_size height must lie in"),
    sidecar_case("input-size-60000", put("input_size", [60000, 60000]), "input_size height must lie in"),
    sidecar_case("input-size-4096-area", put("input_size", [4096, 4096]), "too large for one network input"),
    sidecar_case("input-size-text", put("input_size", "256"), "input_size must be [height, width]"),
    sidecar_case("input-size-float", put("input_size", [32.5, 32]), "whole number"),
    sidecar_case("policy-sliding-60000", put("input_policy", {"mode": "sliding", "size": [60000, 60000]}),
                 "input_policy size height must lie in"),
    sidecar_case("policy-mode-zoom", put("input_policy", {"mode": "zoom", "size": [32, 32]}),
                 "input_policy mode must be one of"),
    sidecar_case("policy-overlap-0.99", put("input_policy", {"mode": "sliding", "size": [32, 32],
                                                              "overlap": 0.99}), "overlap must lie in"),
    sidecar_case("std-0", put("normalization.std", 0), "normalization std must lie in"),
    sidecar_case("std-negative", put("normalization.std", -0.25), "normalization std must lie in"),
    sidecar_case("std-nan", put("normalization.std", float("nan")), "normalization std must be a finite"),
    sidecar_case("mean-text", put("normalization.mean", "x"), "normalization mean must be a finite"),
    sidecar_case("std-missing", drop("normalization.std"), "normalization lacks std"),
    sidecar_case("threshold-1.5", put("threshold", 1.5), "threshold must lie in [0, 1]"),
    sidecar_case("threshold-negative", put("threshold", -0.1), "threshold must lie in [0, 1]"),
    sidecar_case("threshold-text", put("threshold", "high"), "threshold must be a finite number"),
    sidecar_case("recipe-threshold-2", put("recipe.threshold", 2), "threshold must lie in [0, 1]"),
    sidecar_case("band-reversed", put("postprocess.band", [0.9, 0.1]), "band must be [top, bottom]"),
    sidecar_case("min-area-5", put("postprocess.min_area_frac", 5), "min_area_frac must lie in"),
    sidecar_case("max-components-text", put("postprocess.max_components", "one"), "max_components must be"),
    sidecar_case("recipe-text", put("recipe", "fast"), "recipe must be an object"),
    sidecar_case("metrics-list", put("metrics", [1, 2]), "metrics must be an object"),
    sidecar_case("mode-number", put("mode", 5), "mode must be text"),
    sidecar_case("sha-missing", drop("weights_sha256"), "weights_sha256 must be"),
    sidecar_case("sha-short", put("weights_sha256", "abc"), "weights_sha256 must be"),
]
