"""The bad-model corpus (issue 18 items 5, 12-15): malformed checkpoint sidecars, weights files,
training states and ONNX models, each built from one real tiny model trained on tg3k frames.

Shared by ``tests/core/test_bad_models.py`` (every command-line path) and
``tests/app/test_bad_models_gui.py`` (Set active / Show as overlay); the runs are checked by the
shared harness in ``tests/core/bad_input_cases.py``: no traceback, one clear line, a non-zero exit,
nothing changed on disk.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.core.bad_input_cases import FAIL, TRAIN_FLAGS, Case, CorpusEnv, Inputs, register_command

# ----------------------------------------------------------------------------------------- environment


@dataclass
class ModelEnv(CorpusEnv):
    """The harness's environment plus a real finished training run (checkpoints, last_state.pt), the
    distinct real images it was trained on, and its ONNX export (``checkpoint`` / ``onnx`` are those)."""

    run: Path = Path()
    data: Path = Path()

    def copy_run(self, dest: Path) -> Path:
        shutil.copytree(self.run, dest)
        return dest

    def copy_data(self, dest: Path) -> Path:
        shutil.copytree(self.data, dest)
        return dest


@pytest.fixture(scope="session")
def model_env(shared_data, tmp_path_factory) -> ModelEnv:
    """A 2-step finetune run (U-Net, 4 base channels, 32 px) on 10 real thyroid frames, and its export."""
    import torch

    from core.export.onnx import export_onnx
    from core.train.loop import run_training
    from tests.core.test_train_support import make_subset, tiny

    torch.set_num_threads(1)
    base = tmp_path_factory.mktemp("bad_models")
    data = make_subset(shared_data / "tg3k_thyroid", base / "data", 10)
    run = base / "run"
    run_training(tiny("finetune", size=32, max_steps=2, epochs=1, batch_size=2), data, run)
    onnx = base / "model.onnx"
    export_onnx(run / "best.json", onnx, images=str(data / "images"), max_images=1)
    return ModelEnv(shared_data, run / "last.json", onnx, run=run, data=data)


# ----------------------------------------------------------------------------------------- commands

RESUME_FLAGS = ["--epochs", "2", "--max-steps", "3", "--threads", "1", "--device", "cpu"]
register_command("predict-ckpt", lambda i, e, o: ["predict", "--model", str(i.checkpoint), "--input",
                                                   str(Path(i.data) / "images"), "--out", str(o / "pred")])
register_command("evaluate-onnx", lambda i, e, o: ["evaluate", "--model", str(i.onnx or e.onnx), "--data",
                                                    str(i.data), "--split", "all"])
register_command("finetune-resume-ckpt", lambda i, e, o: ["finetune", "--data", str(i.data), "--out",
                                                      str(Path(i.checkpoint).parent), "--resume", *RESUME_FLAGS])
ORDER = ("predict-ckpt", "predict", "evaluate", "evaluate-onnx", "export", "finetune-init", "finetune-resume-ckpt")
CHECKPOINT_RUNS = {"predict-ckpt": FAIL, "evaluate": FAIL, "export": FAIL, "finetune-init": FAIL,
                   "finetune-resume-ckpt": FAIL}
STATE_RUNS = {"finetune-resume-ckpt": FAIL}
ONNX_RUNS = {"predict": FAIL, "evaluate-onnx": FAIL}


def _inputs(root: Path, env: ModelEnv, run: Path, onnx: Path | None = None) -> Inputs:
    return Inputs(data=env.copy_data(root / "data"), checkpoint=run / "last.json", onnx=onnx)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _rehash(run: Path) -> None:
    """Make the sidecar's checksum match the (broken) weights, so the check after it is what refuses."""
    side = run / "last.json"
    meta = json.loads(side.read_text())
    meta["weights_sha256"] = _sha(run / "last.safetensors")
    side.write_text(json.dumps(meta))


# ----------------------------------------------------------------------------------------- sidecars

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
        return _inputs(root, env, run)
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

# ----------------------------------------------------------------------------------------- weights


def weights_case(name: str, breaker: Callable[[Path, ModelEnv], None], says: str, **kwargs: Any) -> Case:
    """``last.safetensors`` of a copied run broken by ``breaker(run_dir, env)``."""
    def build(root: Path, env: ModelEnv) -> Inputs:
        run = env.copy_run(root / "run")
        breaker(run, env)
        return _inputs(root, env, run)
    return Case(f"weights-{name}", build, dict(CHECKPOINT_RUNS), says=says, **kwargs)


def _state(run: Path):
    from safetensors.torch import load_file

    return load_file(str(run / "last.safetensors"))


def _save_state(run: Path, state, rehash: bool = True) -> None:
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in state.items()}, str(run / "last.safetensors"),
              metadata={"format": "toothseg-checkpoint"})
    if rehash:
        _rehash(run)


def _other_arch(run: Path, env: ModelEnv, rehash: bool = True) -> None:
    from core.models import build_model

    model = build_model({"name": "unet", "in_channels": 1, "out_channels": 1, "base_channels": 8})
    _save_state(run, model.state_dict(), rehash)


def _same_arch_other_weights(run: Path, env: ModelEnv) -> None:
    """A valid file of the right architecture, swapped in without updating the checksum (item 12)."""
    _save_state(run, {k: (v + 1 if v.is_floating_point() else v) for k, v in _state(run).items()},
                rehash=False)


def _nan(run: Path, env: ModelEnv) -> None:
    state = _state(run)
    name = next(k for k, v in state.items() if k.endswith("weight") and v.is_floating_point())
    state[name][...] = float("nan")
    _save_state(run, state)


def _ints(run: Path, env: ModelEnv) -> None:
    import torch

    _save_state(run, {k: (v * 100).to(torch.int32) if v.is_floating_point() else v
                      for k, v in _state(run).items()})


def _only_bn_counters(run: Path, env: ModelEnv) -> None:
    _save_state(run, {k: v for k, v in _state(run).items() if k.endswith("num_batches_tracked")})


def _raw(data: bytes) -> Callable[[Path, ModelEnv], None]:
    def breaker(run: Path, env: ModelEnv) -> None:
        (run / "last.safetensors").write_bytes(data)
        _rehash(run)
    return breaker


def _truncated(run: Path, env: ModelEnv) -> None:
    path = run / "last.safetensors"
    path.write_bytes(path.read_bytes()[:1000])


def _missing(run: Path, env: ModelEnv) -> None:
    (run / "last.safetensors").unlink()


def _folder(run: Path, env: ModelEnv) -> None:
    (run / "last.safetensors").unlink()
    (run / "last.safetensors").mkdir()


WEIGHTS_CASES = [
    weights_case("missing", _missing, "weights file not found"),
    weights_case("folder", _folder, "cannot read weights"),
    weights_case("truncated", _truncated, "corrupt or replaced"),
    weights_case("swapped-same-arch", _same_arch_other_weights, "corrupt or replaced"),
    weights_case("swapped-other-arch", lambda r, e: _other_arch(r, e, rehash=False), "corrupt or replaced"),
    weights_case("garbage-rehashed", _raw(b"\x00" * 64 + b"not safetensors" * 100), "not a valid safetensors"),
    weights_case("pickle-rehashed", _raw(pickle.dumps({"evil": 1})), "not a valid safetensors"),
    weights_case("header-2tb-rehashed", _raw((2**41).to_bytes(8, "little") + b"{}"), "not a valid safetensors"),
    weights_case("nan-rehashed", _nan, "nan or infinite"),
    weights_case("int-dtype-rehashed", _ints, "torch.int32", says_by={"finetune-init": "no weight tensor matches"}),
    # item 13: every learnable tensor mismatches; only batch-norm counters would match
    weights_case("other-arch-rehashed", _other_arch, "do not fit model",
                 says_by={"finetune-init": "no weight tensor matches"}),
    weights_case("only-bn-counters-rehashed", _only_bn_counters, "do not fit model",
                 says_by={"finetune-init": "no weight tensor matches this model (only"}),
]

# ----------------------------------------------------------------------------------------- training state


class _RunsCode:
    """Unpickling this would create ``marker``: torch.load(weights_only=True) must refuse it."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def state_case(name: str, breaker: Callable[[Path], None], says: str) -> Case:
    """``last_state.pt`` of a copied run broken by ``breaker(path)``; ``finetune --resume`` refuses it."""
    def build(root: Path, env: ModelEnv) -> Inputs:
        run = env.copy_run(root / "run")
        breaker(run / "last_state.pt")
        return _inputs(root, env, run)
    return Case(f"state-{name}", build, dict(STATE_RUNS), says=says)


def _edit_state(change: Callable[[dict], Any]) -> Callable[[Path], None]:
    def breaker(path: Path) -> None:
        import torch

        state = torch.load(path, weights_only=True)
        new = change(state)
        torch.save(state if new is None else new, path)
    return breaker


def _pickle_code(path: Path) -> None:
    path.write_bytes(pickle.dumps({"epoch": _RunsCode(path.parent.parent / "CODE_RAN")}, protocol=2))


def _other_optimizer(state: dict) -> None:
    groups = state["optimizer"]["param_groups"]
    groups[0]["params"] = groups[0]["params"][:3]


def _rng_float(state: dict) -> None:
    import torch

    state["rng_torch"] = torch.zeros(5)


STATE_CASES = [
    state_case("empty", lambda p: p.write_bytes(b""), "unreadable training state"),
    state_case("truncated", lambda p: p.write_bytes(p.read_bytes()[:300]), "unreadable training state"),
    state_case("pickle-runs-code", _pickle_code, "unreadable training state"),
    state_case("list", _edit_state(lambda s: [1, 2, 3]), "not a training state"),
    state_case("no-optimizer", _edit_state(lambda s: s.pop("optimizer") and None), "lacks optimizer"),
    state_case("epoch-text", _edit_state(lambda s: s.update(epoch="one")), "epoch has the wrong type"),
    state_case("epoch-negative", _edit_state(lambda s: s.update(epoch=-5)), "negative epoch"),
    state_case("rng-float", _edit_state(_rng_float), "rng_torch is not"),
    state_case("csv-rows-garbled", _edit_state(lambda s: s.update(csv_rows="[{")), "csv_rows is not json"),
    state_case("optimizer-other-model", _edit_state(_other_optimizer), "does not fit this run"),
]

# ----------------------------------------------------------------------------------------- ONNX


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
        return _inputs(root, env, env.copy_run(root / "run"), onnx_path)
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
        return _inputs(root, env, env.copy_run(root / "run"), onnx_path)
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
    return _inputs(root, env, env.copy_run(root / "run"), path)


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


def _good(root: Path, env: ModelEnv) -> Inputs:
    return _inputs(root, env, env.copy_run(root / "run"))


# the other commands that take a model (ranking by uncertainty, Mean Teacher's start) share the loaders;
# a representative set of cases shows it: a few of each kind of damage
register_command("suggest-model", lambda i, e, o: ["suggest", "--data", str(i.data), "--model", str(i.checkpoint)])
register_command("suggest-onnx", lambda i, e, o: ["suggest", "--data", str(i.data), "--model", str(i.onnx or e.onnx)])
register_command("mean-teacher-init", lambda i, e, o: ["mean-teacher", "--data", str(i.data), "--out", str(o / "mt"),
                                                        "--init", str(i.checkpoint), *TRAIN_FLAGS])
ORDER += ("suggest-model", "suggest-onnx", "mean-teacher-init")
MORE_COMMANDS = {"sidecar": ("suggest-model", "mean-teacher-init"), "weights": ("suggest-model", "mean-teacher-init"),
                 "onnx": ("suggest-onnx",)}
REPRESENTATIVE = ("sidecar-version-abc", "sidecar-classes-int-5", "sidecar-base-channels-1024", "sidecar-input-size-0x0",
                  "sidecar-policy-sliding-60000", "sidecar-std-0", "sidecar-threshold-1.5", "sidecar-json-truncated",
                  "weights-swapped-same-arch", "weights-nan-rehashed", "onnx-version-abc", "onnx-input-size-0x0",
                  "onnx-std-0", "onnx-graph-classifier", "onnx-graph-halves-the-size")
for _case in SIDECAR_CASES + WEIGHTS_CASES + ONNX_CASES:
    if _case.id in REPRESENTATIVE:
        _case.runs.update({name: FAIL for name in MORE_COMMANDS[_case.id.split("-")[0]]})
# a good checkpoint exported with a policy the CLI asks for: the same limits apply to the arguments
register_command("export-size-60000", lambda i, e, o: ["export", "--model", str(i.checkpoint), "--out",
                                                       str(o / "m.onnx"), "--images", str(i.data),
                                                       "--size", "60000", "60000"])
register_command("export-size-0", lambda i, e, o: ["export", "--model", str(i.checkpoint), "--out",
                                                   str(o / "m.onnx"), "--images", str(i.data), "--size", "0", "0"])
register_command("export-overlap-0.99", lambda i, e, o: ["export", "--model", str(i.checkpoint), "--out",
                                                         str(o / "m.onnx"), "--images", str(i.data), "--policy",
                                                         "sliding", "--overlap", "0.99"])
ORDER += ("export-size-60000", "export-size-0", "export-overlap-0.99")
ARGUMENT_CASES = [Case("export-arguments-out-of-range", _good,
                       {"export-size-60000": FAIL, "export-size-0": FAIL, "export-overlap-0.99": FAIL},
                       says_by={"export-size-60000": "input_policy size height must lie in [16, 4096]",
                                "export-size-0": "input_policy size height must lie in [16, 4096]",
                                "export-overlap-0.99": "overlap must lie in [0, 0.75]"})]

GOOD = Case("good-model-control", _good, {name: "ok" for name in ORDER  # (Mean Teacher needs unlabeled images)
                                          if name not in ARGUMENT_CASES[0].runs and name != "mean-teacher-init"})
