"""Malformed ONNX models of the bad-model corpus: bad metadata properties and graphs that do not match them
(and one that fails only while predicting)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.core.bad_input_cases import Case, Inputs
from tests.core.bad_models.env import ONNX_RUNS, ModelEnv, copied_inputs


def _props(path: Path) -> dict[str, str]:
    import onnx

    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


def _write_onnx(proto, path: Path, props: dict[str, str]) -> None:
    import onnx

    del proto.metadata_props[:]
    for key, value in props.items():
        proto.metadata_props.add(key=key, value=value)
    onnx.save(proto, str(path))


def meta_case(name: str, change: Callable[[dict[str, str]], None], says: str) -> Case:
    """The good ONNX export with its ToothSeg metadata_props edited by ``change(props)`` (JSON strings)."""
    def build(root: Path, env: ModelEnv) -> Inputs:
        import onnx

        onnx_path = root / "bad.onnx"
        props = _props(env.onnx)
        change(props)
        _write_onnx(onnx.load(str(env.onnx)), onnx_path, props)
        return copied_inputs(root, env, env.copy_run(root / "run"), onnx_path)
    return Case(f"onnx-{name}", build, dict(ONNX_RUNS), says=says)


def prop(key: str, path: str | None, value: Any) -> Callable[[dict[str, str]], None]:
    """Set ``props[key]`` (JSON) or a field ``path`` inside it."""
    def change(props: dict[str, str]) -> None:
        if path is None:
            props[key] = json.dumps(value)
            return
        data = json.loads(props[key])
        node = data
        *parents, last = path.split(".")
        for p in parents:
            node = node[p]
        node[last] = value
        props[key] = json.dumps(data)
    return change


def graph_case(name: str, make: Callable[[], Any], says: str) -> Case:
    """Another graph under the good model's ToothSeg metadata ("an ONNX graph with toothseg metadata but
    another graph")."""
    def build(root: Path, env: ModelEnv) -> Inputs:
        onnx_path = root / "other.onnx"
        _write_onnx(make(), onnx_path, _props(env.onnx))
        return copied_inputs(root, env, env.copy_run(root / "run"), onnx_path)
    return Case(f"onnx-graph-{name}", build, dict(ONNX_RUNS), says=says)


def _graph(in_dims: list, out_dims: list, body: str = "conv", in_type: str = "float", out_channels: int = 1):
    """A small valid ONNX model (opset 17, IR 8): ``conv`` = 1x1 conv, ``pool`` = 2x2 max-pool,
    ``classifier`` = global pool + flatten; ``in_type`` int64 casts to float first."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    elem = {"float": TensorProto.FLOAT, "int64": TensorProto.INT64}[in_type]
    x = helper.make_tensor_value_info("image", elem, in_dims)
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, out_dims)
    nodes, inits, src = [], [], "image"
    if in_type != "float":
        nodes.append(helper.make_node("Cast", ["image"], ["x"], to=TensorProto.FLOAT))
        src = "x"
    cin = in_dims[1] if isinstance(in_dims[1], int) else 1
    if body == "conv":
        inits.append(numpy_helper.from_array(np.ones((out_channels, cin, 1, 1), np.float32), "w"))
        nodes.append(helper.make_node("Conv", [src, "w"], ["logits"]))
    elif body == "pool":
        nodes.append(helper.make_node("MaxPool", [src], ["logits"], kernel_shape=[2, 2], strides=[2, 2]))
    elif body == "reshape64":  # declares dynamic sizes but only runs on 64 x 64 (passes the load probe)
        inits.append(numpy_helper.from_array(np.array([-1, 1, 64, 64], np.int64), "shape"))
        nodes.append(helper.make_node("Reshape", [src, "shape"], ["logits"]))
    else:
        nodes += [helper.make_node("GlobalAveragePool", [src], ["g"]), helper.make_node("Flatten", ["g"], ["logits"])]
    model = helper.make_model(helper.make_graph(nodes, "other", [x], [y], inits),
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def _truncated_onnx(root: Path, env: ModelEnv) -> Inputs:
    path = root / "cut.onnx"
    path.write_bytes(env.onnx.read_bytes()[:700])
    return copied_inputs(root, env, env.copy_run(root / "run"), path)


def _no_metadata(props: dict[str, str]) -> None:
    props.clear()


def _garbled(props: dict[str, str]) -> None:
    props["input_policy"] = '{"mode": "resize", "size": [32,'


def _huge(props: dict[str, str]) -> None:
    props["fingerprint"] = json.dumps("f" * (2 * 2**20))


DYN = ["batch", 1, "height", "width"]
ONNX_CASES = [
    meta_case("version-abc", prop("version", None, "abc"), "version must be a whole number"),
    meta_case("version-99", prop("version", None, 99), "newer toothseg studio"),
    meta_case("classes-5", prop("classes", None, 5), "classes must be a list"),
    meta_case("classes-vs-channels", prop("architecture", "out_channels", 3),
              "entries for a model with 3 output channels"),
    meta_case("base-channels-minus-4", prop("architecture", "base_channels", -4), "base_channels must lie in"),
    meta_case("base-channels-1024", prop("architecture", "base_channels", 1024), "base_channels must lie in"),
    # item 14: a bad input size is one message at load, not an OpenCV assertion per image
    meta_case("input-size-0x0", prop("input_policy", "size", [0, 0]), "input_policy size height must lie in"),
    meta_case("input-size-negative", prop("input_policy", "size", [-32, 32]), "input_policy size height"),
    meta_case("input-size-text", prop("input_policy", "size", "big"), "input_policy size must be"),
    meta_case("policy-sliding-60000", prop("input_policy", None, {"mode": "sliding", "size": [60000, 60000]}),
              "input_policy size height must lie in"),
    meta_case("policy-overlap-0.99", prop("input_policy", None, {"mode": "sliding", "size": [32, 32],
                                                                 "overlap": 0.99}), "overlap must lie in"),
    meta_case("std-0", prop("normalization", "std", 0), "normalization std must lie in"),
    meta_case("threshold-2", prop("threshold", None, 2), "threshold must lie in [0, 1]"),
    meta_case("postprocess-list", prop("postprocess", None, [1]), "postprocess must be an object"),
    meta_case("precision-fp8", prop("precision", None, "fp8"), "precision must be one of"),
    meta_case("trained-splits-all", prop("trained_splits", None, ["everything"]), "trained_splits must be a list"),
    meta_case("garbled-json", _garbled, "damaged toothseg metadata"),
    meta_case("no-toothseg-metadata", _no_metadata, "without toothseg metadata"),
    meta_case("huge-value", _huge, "larger than"),
    Case("onnx-truncated-file", _truncated_onnx, dict(ONNX_RUNS), says="not an onnx model"),
    graph_case("3-input-channels", lambda: _graph(["n", 3, "h", "w"], ["n", 1, "h", "w"]), "has 3 channels"),
    graph_case("classifier", lambda: _graph(DYN, ["batch", 1], "classifier"), "has 2 dimensions"),
    graph_case("int64-input", lambda: _graph(DYN, DYN, in_type="int64"), "is int64, not float32"),
    graph_case("3-output-channels", lambda: _graph(DYN, ["batch", 3, "height", "width"], out_channels=3),
               "has 3 channels, its metadata says 1"),
    graph_case("fixed-100px", lambda: _graph([1, 1, 100, 100], [1, 1, 100, 100]), "differs from its input policy"),
    graph_case("fixed-batch-2", lambda: _graph([2, 1, "h", "w"], [2, 1, "h", "w"]), "fixed batch of 2"),
    graph_case("halves-the-size", lambda: _graph(DYN, ["batch", 1, "h2", "w2"], "pool"),
               "does not match its metadata"),
]

# a graph that fails only while predicting (after the load checks passed): one line, not one per image
RUNTIME_ONNX_CASES = [graph_case("runs-only-at-64px", lambda: _graph(DYN, DYN, "reshape64"),
                                 "the model fails on a 32x32 input")]
