"""The two ways to run a network: PyTorch (a checkpoint) and ONNX Runtime (an exported model).

Both take a normalised float32 batch (N, C, H, W) and return logits (N, K, H, W) as numpy, and
both carry the same metadata dictionary, so the Predictor above them cannot tell them apart.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from core.errors import ModelFileError


class Backend(Protocol):
    meta: dict[str, Any]
    provider: str

    def forward(self, batch: np.ndarray) -> np.ndarray: ...


class TorchBackend:
    """Eager PyTorch on CPU (or the model's device); the reference the ONNX path must match."""

    provider = "PyTorch"

    def __init__(self, model, meta: dict[str, Any]) -> None:
        import torch

        self.model = model.eval()
        self.meta = meta
        self.device = next(model.parameters()).device
        self._torch = torch

    def forward(self, batch: np.ndarray) -> np.ndarray:
        with self._torch.inference_mode():
            x = self._torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self.device)
            return self.model(x).float().cpu().numpy()


def ort_reason(exc: BaseException) -> str:
    """The readable part of an ONNX Runtime error: no status prefix, source path or C++ signature."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    text = re.sub(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ", "", text)
    text = text.split("Status Message: ")[-1]
    text = re.sub(r"^\S+\.(?:h|cc|cpp):\d+ .*?\) (?:.*? was false\. )?", "", text)
    return text[:200]


def graph_signature(proto) -> tuple[list[tuple[str, str, list]], list[tuple[str, str, list]]]:
    """(inputs, outputs) of an ONNX graph as (name, element type, dims); a dim is an int when fixed,
    else its symbolic name (or None). Initialisers listed as inputs (old IR versions) are left out."""
    import onnx

    def describe(value) -> tuple[str, str, list]:
        tensor = value.type.tensor_type
        elem = onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type).name if tensor.elem_type else "unknown"
        dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tensor.shape.dim]
        return value.name, {"float32": "float"}.get(elem, elem), dims

    weights = {t.name for t in proto.graph.initializer}
    return ([describe(v) for v in proto.graph.input if v.name not in weights],
            [describe(v) for v in proto.graph.output])


def read_onnx(model: bytes | str | Path, label: str):
    """(proto, metadata) of an ONNX model whose ToothSeg metadata and graph inputs/outputs were checked
    against the schema; no session is created and nothing runs (the app checks models this way)."""
    import onnx

    from core.models.describe import from_props
    from core.models.metadata_schema import check_graph_io

    try:
        proto = onnx.load_model_from_string(model) if isinstance(model, bytes) else onnx.load(str(model))
    except FileNotFoundError as exc:
        raise ModelFileError(f"{label}: model file not found") from exc
    except IsADirectoryError as exc:
        raise ModelFileError(f"{label}: is a folder, not an ONNX model file") from exc
    except Exception as exc:  # protobuf DecodeError and friends
        raise ModelFileError(f"{label}: not an ONNX model (corrupt or another file type: {exc})") from exc
    meta = from_props({p.key: p.value for p in proto.metadata_props}, label)
    try:
        inputs, outputs = graph_signature(proto)
    except (KeyError, ValueError, TypeError) as exc:
        raise ModelFileError(f"{label}: the graph's inputs or outputs have an unknown type ({exc})") from exc
    check_graph_io(inputs, outputs, meta, label)
    return proto, meta


class OnnxBackend:
    """ONNX Runtime session over an exported model; ``provider`` says where it really runs.

    The metadata and the graph's inputs/outputs are checked before the session is made, and one probe
    input runs at load, so a graph that does not do what its metadata says fails here with one clear
    message, not on every image."""

    PROBE = 64  # side of the probe input for graphs with a dynamic height and width

    def __init__(self, model: bytes | str | Path, providers: list[str] | None = None,
                 threads: int | None = None, name: str | None = None) -> None:
        from core.infer.runtime import make_session

        self.name = label = name or (Path(model).name if not isinstance(model, bytes) else "model")
        proto, self.meta = read_onnx(model, label)
        del proto
        self.session, self.provider = make_session(
            model if isinstance(model, bytes) else Path(model), providers, threads, label
        )
        self.input_name = self.session.get_inputs()[0].name
        import onnxruntime as ort

        self._run_options = ort.RunOptions()
        self._run_options.log_severity_level = 4  # a failure is raised once, not also logged to stderr
        self._probe()

    def _probe(self) -> None:
        dims = self.session.get_inputs()[0].shape
        h, w = (d if isinstance(d, int) else self.PROBE for d in dims[2:4])
        self.forward(np.zeros((1, 1, h, w), np.float32))

    def forward(self, batch: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        try:
            out = self.session.run(None, {self.input_name: batch}, self._run_options)[0]
        except Exception as exc:  # ORT's Fail / InvalidArgument / RuntimeException
            if "onnxruntime" not in type(exc).__module__:
                raise
            raise ModelFileError(f"{self.name}: the model fails on a {batch.shape[2]}x{batch.shape[3]} input "
                                 f"({ort_reason(exc)})") from exc
        channels = int(self.meta["architecture"].get("out_channels", 1))
        want = (batch.shape[0], channels, batch.shape[2], batch.shape[3])
        if not isinstance(out, np.ndarray) or tuple(out.shape) != want or out.dtype.kind != "f":
            got = tuple(getattr(out, "shape", ())) or type(out).__name__
            raise ModelFileError(f"{self.name}: the graph returned {got} for a {tuple(batch.shape)} input, its "
                                 f"metadata promises {want} logits; the graph does not match its metadata")
        return out


def load_backend(path: str | Path, backend: str = "auto", providers: list[str] | None = None) -> Backend:
    """``.onnx`` -> ONNX Runtime; a checkpoint (.json/.safetensors/stem) -> PyTorch."""
    path = Path(path)
    if backend == "onnx" or (backend == "auto" and path.suffix.lower() == ".onnx"):
        return OnnxBackend(path, providers)
    from core.models.checkpoint import load_checkpoint
    from core.models.describe import inference_meta

    model, sidecar = load_checkpoint(path)
    return TorchBackend(model, inference_meta(sidecar))
