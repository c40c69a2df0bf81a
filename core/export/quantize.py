"""int8 static quantisation (QDQ, per-channel weights) calibrated on real project images.

ORT's pre-processing pass (shape inference + graph optimisation, which folds BatchNorm into the
convolutions) runs first so the int8 graph quantises exactly the convs the fp32 session executes.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np


class _Reader:
    """Feeds calibration batches to quantize_static one image at a time."""

    def __init__(self, inputs: list[np.ndarray], name: str) -> None:
        self._items = iter([{name: x[None]} for x in inputs])

    def get_next(self):
        return next(self._items, None)

    def rewind(self) -> None:  # required by newer ORT versions of the protocol
        pass


def quantize_int8(fp32_model: bytes, calibration: list[np.ndarray], input_name: str = "image") -> bytes:
    """int8 ONNX bytes (QDQ, per-channel, S8 weights / U8 activations) from an fp32 ONNX model."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory(prefix="toothseg-int8-") as tmp:
        src, pre, dst = Path(tmp, "fp32.onnx"), Path(tmp, "pre.onnx"), Path(tmp, "int8.onnx")
        src.write_bytes(fp32_model)
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        quantize_static(
            str(pre), str(dst), _Reader(calibration, input_name),
            quant_format=QuantFormat.QDQ, per_channel=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
        )
        return dst.read_bytes()
