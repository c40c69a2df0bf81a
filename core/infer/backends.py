"""The two ways to run a network: PyTorch (a checkpoint) and ONNX Runtime (an exported model).

Both take a normalised float32 batch (N, C, H, W) and return logits (N, K, H, W) as numpy, and
both carry the same metadata dictionary, so the Predictor above them cannot tell them apart.
"""

from __future__ import annotations

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


class OnnxBackend:
    """ONNX Runtime session over an exported model; ``provider`` says where it really runs."""

    def __init__(self, model: bytes | str | Path, providers: list[str] | None = None,
                 threads: int | None = None, name: str | None = None) -> None:
        import onnx

        from core.export.metadata import from_props
        from core.infer.runtime import make_session

        label = name or (Path(model).name if not isinstance(model, bytes) else "model")
        try:
            proto = onnx.load_model_from_string(model) if isinstance(model, bytes) else onnx.load(str(model))
        except FileNotFoundError as exc:
            raise ModelFileError(f"{label}: model file not found") from exc
        except Exception as exc:  # protobuf DecodeError and friends
            raise ModelFileError(f"{label}: not an ONNX model (corrupt or another file type: {exc})") from exc
        self.meta = from_props({p.key: p.value for p in proto.metadata_props}, label)
        self.session, self.provider = make_session(
            model if isinstance(model, bytes) else Path(model), providers, threads, label
        )
        self.input_name = self.session.get_inputs()[0].name

    def forward(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: np.ascontiguousarray(batch, dtype=np.float32)})[0]


def load_backend(path: str | Path, backend: str = "auto", providers: list[str] | None = None) -> Backend:
    """``.onnx`` -> ONNX Runtime; a checkpoint (.json/.safetensors/stem) -> PyTorch."""
    path = Path(path)
    if backend == "onnx" or (backend == "auto" and path.suffix.lower() == ".onnx"):
        return OnnxBackend(path, providers)
    from core.export.metadata import inference_meta
    from core.models.checkpoint import load_checkpoint

    model, sidecar = load_checkpoint(path)
    return TorchBackend(model, inference_meta(sidecar))
