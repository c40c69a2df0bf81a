"""An ONNX file's ToothSeg metadata and graph inputs/outputs, read without parsing its weights.

``onnx.load`` decodes every initializer: half a second for a 90 MB ResNet-34 U-Net, too long for the UI
thread where the app checks a model before Set active or Show as overlay. The protobuf wire format
lets us walk the top-level fields and skip the weights by their length: only ``metadata_props``
(ModelProto field 14) and the graph's ``input`` / ``output`` (GraphProto fields 11, 12) are decoded,
plus the names of its initializers (field 5), which old IR versions also list as inputs.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from core.errors import ModelFileError

MODEL_GRAPH, MODEL_METADATA = 7, 14
GRAPH_INITIALIZER, GRAPH_INPUT, GRAPH_OUTPUT = 5, 11, 12
TENSOR_NAME = 8

Dims = list[int | str | None]
Buffer = bytes | mmap.mmap


@dataclass
class OnnxInfo:
    props: dict[str, str]
    inputs: list[tuple[str, str, Dims]]   # (name, element type, dims) of the graph's real inputs
    outputs: list[tuple[str, str, Dims]]


def _varint(buf: Buffer, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end:
            raise ValueError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _fields(buf: Buffer, pos: int, end: int) -> Iterator[tuple[int, int, int]]:
    """(field number, start, stop) of every length-delimited field in ``buf[pos:end]``; scalars are skipped."""
    while pos < end:
        key, pos = _varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _, pos = _varint(buf, pos, end)
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            size, pos = _varint(buf, pos, end)
            if pos + size > end:
                raise ValueError("truncated field")
            yield number, pos, pos + size
            pos += size
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if pos > end or number == 0:
            raise ValueError("malformed field")


def _describe(value) -> tuple[str, str, Dims]:
    import onnx

    tensor = value.type.tensor_type
    elem = onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type).name if tensor.elem_type else "unknown"
    dims: Dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tensor.shape.dim]
    return value.name, {"float32": "float"}.get(elem, elem), dims


def _parse(buf: Buffer) -> OnnxInfo:
    import onnx

    props: dict[str, str] = {}
    inputs, outputs, weights = [], [], set()
    for number, start, stop in _fields(buf, 0, len(buf)):
        if number == MODEL_METADATA:
            entry = onnx.StringStringEntryProto.FromString(bytes(buf[start:stop]))
            props[entry.key] = entry.value
        elif number == MODEL_GRAPH:
            for sub, s, e in _fields(buf, start, stop):
                if sub in (GRAPH_INPUT, GRAPH_OUTPUT):
                    value = onnx.ValueInfoProto.FromString(bytes(buf[s:e]))
                    (inputs if sub == GRAPH_INPUT else outputs).append(value)
                elif sub == GRAPH_INITIALIZER:
                    weights.update(bytes(buf[a:b]).decode("utf-8", "replace")
                                   for n, a, b in _fields(buf, s, e) if n == TENSOR_NAME)
    return OnnxInfo(props, [_describe(v) for v in inputs if v.name not in weights], [_describe(v) for v in outputs])


def read_onnx_info(model: bytes | str | Path, label: str) -> OnnxInfo:
    """Metadata and graph signature of an ONNX file or serialized model; ModelFileError when unreadable."""
    try:
        if isinstance(model, bytes):
            return _parse(model)
        with open(model, "rb") as fh:
            if os.fstat(fh.fileno()).st_size == 0:
                raise ValueError("empty file")
            # mapped, not read: skipping the weights by their length never touches their pages (a 90 MB
            # model is checked in milliseconds); indexing an mmap gives ints, slicing gives bytes copies
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                return _parse(mapped)
    except FileNotFoundError as exc:
        raise ModelFileError(f"{label}: model file not found") from exc
    except IsADirectoryError as exc:
        raise ModelFileError(f"{label}: is a folder, not an ONNX model file") from exc
    except OSError as exc:
        raise ModelFileError(f"{label}: cannot read the model ({exc.strerror})") from exc
    except Exception as exc:  # ValueError from the walk, protobuf DecodeError, unknown element types
        raise ModelFileError(f"{label}: not an ONNX model (corrupt or another file type: {exc})") from exc
