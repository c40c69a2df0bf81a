"""Bad image files of the bad-input corpus (issue 18): truncated, corrupted, header-only, wrong-sized, NaN, odd
bit depths, DICOMs without pixels ... each one sample built from a real tg3k frame. The byte makers
(``tiff``, ``png_header_only``, ``flip``, ``float_img``) serve the other kinds too."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import tifffile

from tests.core.bad_input_cases import FAIL, OK, REPORT, Case, Inputs

IMAGE_RUNS = {"check": REPORT, "check-json": REPORT, "stats": OK, "index": OK, "predict": FAIL, "evaluate": FAIL,
              "export": FAIL, "split": OK}
READABLE_RUNS = {"check": OK, "stats": OK, "index": OK, "predict": OK, "evaluate": OK, "split": OK}


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_header_only(w: int, h: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IEND", b"")


def flip(data: bytes, at: float, n: int = 16) -> bytes:
    b = bytearray(data)
    start = int(len(b) * at)
    for k in range(start, min(start + n, len(b))):
        b[k] ^= 0x5A
    return bytes(b)


def _png_broken_stream(data: bytes) -> bytes:
    """A crafted PNG: IDAT bytes scrambled and its checksum recomputed, so only zlib notices."""
    b = bytearray(data)
    i = b.find(b"IDAT")
    n = struct.unpack(">I", b[i - 4:i])[0]
    for k in range(20, 60):
        b[i + 4 + k] ^= 0x5A
    b[i + 4 + n:i + 8 + n] = struct.pack(">I", zlib.crc32(bytes(b[i:i + 4 + n])))
    return bytes(b)


def _jpeg_sof(data: bytes, w: int, h: int) -> bytes:
    """The JPEG with its frame header declaring ``w`` x ``h``."""
    b = bytearray(data)
    i = 2
    while b[i + 1] not in (0xC0, 0xC1, 0xC2):
        i += 2 + struct.unpack(">H", b[i + 2:i + 4])[0]
    b[i + 5:i + 9] = struct.pack(">HH", h, w)
    return bytes(b)


def _bmp_dims(data: bytes, w: int, h: int) -> bytes:
    b = bytearray(data)
    b[18:26] = struct.pack("<ii", w, h)
    return bytes(b)


def tiff(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    tifffile.imwrite(buf, arr)
    return buf.getvalue()


def _tiff_header_only(w: int, h: int) -> bytes:
    """A little-endian TIFF whose one strip is 16 bytes but whose tags declare ``w`` x ``h`` pixels."""
    tags = [(256, 4, w), (257, 4, h), (258, 3, 8), (259, 3, 1), (262, 3, 1), (273, 4, 8 + 2 + 8 * 12 + 4),
            (277, 3, 1), (278, 4, h), (279, 4, 16)]
    ifd = struct.pack("<H", len(tags)) + b"".join(
        struct.pack("<HHI", tag, kind, 1) + (struct.pack("<HH", v, 0) if kind == 3 else struct.pack("<I", v))
        for tag, kind, v in tags) + struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + b"\x00" * 16


def float_img(env, fill=None, dtype=np.float32) -> np.ndarray:
    arr = env.image.astype(dtype) / 255.0
    if fill is not None:
        arr[100:140, 100:140] = fill
    return arr


def _dicom(env, rows: int | None = None, cols: int | None = None, pixels: bytes | None = None,
           with_pixels: bool = True) -> bytes:
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset("x.dcm", {}, file_meta=meta, preamble=b"\0" * 128)
    img = env.image
    ds.Rows, ds.Columns = rows or img.shape[0], cols or img.shape[1]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    if with_pixels:
        ds.PixelData = img.tobytes() if pixels is None else pixels
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def image_case(cid: str, name: str, make, says: str = "", runs: dict | None = None, **kw) -> Case:
    """One sample: a bad image ``name`` (bytes from ``make(env)``) with a good mask."""

    def build(root: Path, env) -> Inputs:
        env.paired(root, name, make(env))
        return Inputs(data=root, image=root / "images")

    return Case(f"image-{cid}", build, runs or IMAGE_RUNS, says=says or name, **kw)


IMAGE_CASES = [
    image_case("png-truncated-half", "a.png", lambda e: e.png()[: len(e.png()) // 2]),
    image_case("png-truncated-header", "a.png", lambda e: e.png()[:33]),
    image_case("png-signature-only", "a.png", lambda e: e.png()[:8]),
    image_case("png-zero-bytes", "a.png", lambda e: b""),
    image_case("png-bitflip-idat", "a.png", lambda e: flip(e.png(), 0.5)),
    image_case("png-no-iend", "a.png", lambda e: e.png()[:-12]),
    image_case("png-huge-dims", "a.png", lambda e: png_header_only(40000, 40000)),
    image_case("png-zero-dims", "a.png", lambda e: png_header_only(0, 0)),
    image_case("png-garbage-after-signature", "a.png", lambda e: e.png()[:8] + os.urandom(500)),
    image_case("text-named-png", "a.png", lambda e: b"this is not an image\n" * 20),
    image_case("html-named-jpg", "a.jpg", lambda e: b"<html><body>404 not found</body></html>\n"),
    image_case("zip-named-tif", "a.tif", lambda e: b"PK\x03\x04" + os.urandom(300)),
    image_case("jpg-truncated-half", "a.jpg", lambda e: e.jpg()[: len(e.jpg()) // 2]),
    image_case("jpg-zero-bytes", "a.jpg", lambda e: b""),
    image_case("jpg-soi-only", "a.jpg", lambda e: b"\xff\xd8"),
    image_case("jpg-header-only", "a.jpg", lambda e: e.jpg()[:400]),
    image_case("jpg-huge-dims", "a.jpg", lambda e: _jpeg_sof(e.jpg(), 65000, 65000)),
    image_case("jpg-zero-dims", "a.jpg", lambda e: _jpeg_sof(e.jpg(), 0, 0)),
    image_case("jpg-garbage-after-soi", "a.jpg", lambda e: b"\xff\xd8" + os.urandom(800) + b"\xff\xd9"),
    image_case("bmp-truncated", "a.bmp", lambda e: e.bmp()[:300]),
    image_case("bmp-huge-dims", "a.bmp", lambda e: _bmp_dims(e.bmp(), 50000, 50000)),
    image_case("bmp-zero-dims", "a.bmp", lambda e: _bmp_dims(e.bmp(), 0, 0)),
    image_case("bmp-text", "a.bmp", lambda e: b"BM not really a bitmap"),
    image_case("tif-zero-bytes", "a.tif", lambda e: b""),
    image_case("tif-truncated", "a.tif", lambda e: tiff(e.image)[:200]),
    image_case("tif-garbage-after-header", "a.tif", lambda e: b"II*\x00" + os.urandom(400)),
    image_case("tif-float-nan", "a.tif", lambda e: tiff(float_img(e, np.nan)), says="nan"),
    image_case("tif-float-inf", "a.tif", lambda e: tiff(float_img(e, np.inf)), says="inf"),
    image_case("tif-float64-nan", "a.tiff", lambda e: tiff(float_img(e, np.nan, np.float64)), says="nan"),
    image_case("tif-all-nan", "a.tif", lambda e: tiff(np.full((64, 64), np.nan, np.float32)), says="nan"),
    image_case("tif-int32-negative", "a.tif", lambda e: tiff(e.image.astype(np.int32) - 1000)),
    image_case("tif-complex", "a.tif", lambda e: tiff(e.image.astype(np.complex64))),
    image_case("tif-huge-dims", "a.tif", lambda e: _tiff_header_only(60000, 60000)),
    image_case("dcm-garbage", "a.dcm", lambda e: os.urandom(700)),
    image_case("dcm-zero-bytes", "a.dcm", lambda e: b""),
    image_case("dcm-preamble-only", "a.dcm", lambda e: b"\0" * 128 + b"DICM"),
    image_case("dcm-no-pixel-data", "a.dcm", lambda e: _dicom(e, with_pixels=False)),
    image_case("dcm-huge-dims", "a.dcm", lambda e: _dicom(e, 60000, 60000, pixels=b"\0" * 64)),
    image_case("dcm-truncated-pixels", "a.dcm", lambda e: _dicom(e, pixels=e.image.tobytes()[:1000])),
    image_case("dicm-magic-in-png", "a.png", lambda e: b"\0" * 128 + b"DICM" + os.urandom(200)),
    image_case("png-valid-crc-broken-stream", "a.png", lambda e: _png_broken_stream(e.png())),
    # decodable though damaged (libjpeg warns on stderr, which must stay quiet)
    image_case("jpg-cut-then-eoi", "a.jpg", lambda e: e.jpg()[: len(e.jpg()) // 2] + b"\xff\xd9",
               runs=READABLE_RUNS),
    image_case("jpg-bitflips-in-scan", "a.jpg", lambda e: flip(e.jpg(), 0.7, 6), runs=READABLE_RUNS),
    # readable despite the surprise: content decides, not the extension
    image_case("jpeg-named-png", "a.png", lambda e: e.jpg(), runs=READABLE_RUNS),
    image_case("png-named-jpg", "a.jpg", lambda e: e.png(), runs=READABLE_RUNS),
    image_case("png-16bit", "a.png", lambda e: e.png(e.image.astype(np.uint16) * 257), runs=READABLE_RUNS),
    image_case("tif-float-unit", "a.tif", lambda e: tiff(float_img(e)), runs=READABLE_RUNS),
    image_case("dcm-valid", "a.dcm", lambda e: _dicom(e), runs=READABLE_RUNS),
]
