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


def read_onnx(model: bytes | str | Path, label: str) -> dict[str, Any]:
    """The ToothSeg metadata of an ONNX model, with the metadata and the graph's inputs/outputs checked
    against the schema; the weights are not decoded, no session is made and nothing runs (fast enough
    for the app to check a model on the UI thread before Set active or Show as overlay)."""
    from core.infer.onnx_info import read_onnx_info
    from core.models.describe import from_props
    from core.models.metadata_schema import check_graph_io

    info = read_onnx_info(model, label)
    meta = from_props(info.props, label)
    check_graph_io(info.inputs, info.outputs, meta, label)
    return meta


class OnnxBackend:
    """ONNX Runtime session over an exported model; ``provider`` says where it really runs.

    The metadata and the graph's inputs/outputs are checked before the session is made, and one probe
    input runs at load, so a graph that does not do what its metadata says fails here with one clear
    message, not on every image."""

    PROBE = 64  # side of the probe input for graphs with a dynamic height and width

    def __init__(self, model: bytes | str | Path, providers: list[str] | None = None,
                 threads: int | None = None, name: str | None = None) -> None:
        from core.infer.ort_session import make_session

        self.name = label = name or (Path(model).name if not isinstance(model, bytes) else "model")
        self.meta = read_onnx(model, label)
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
        self.forward(np.zeros((1, int(self.meta["architecture"].get("in_channels", 1)), h, w), np.float32))

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
