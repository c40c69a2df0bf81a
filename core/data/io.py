"""Reading images and masks in every format a clinic produces, and writing masks atomically.

Images come back as 2-D grayscale arrays (uint8, uint16, or float32 in [0, 1] for windowed DICOM).
Masks come back as uint8 label maps: 0 background, k = label value k (binary masks become 0/1).
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from core.data.atomic import atomic_write_bytes
from core.data.imageheader import header_size
from core.data.quiet import quiet_c_stderr
from core.errors import ImageReadError, MaskError

# OpenCV's own "[ WARN ...]" / "[ERROR ...]" lines would print beside our one-line messages; errors still surface as
# exceptions or None results, which are turned into ImageReadError below.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".dcm", ".dicom")
DEFAULT_MAX_PIXELS = 100_000_000  # a 10k x 10k panoramic is far beyond any real device


def max_pixels() -> int:
    """Pixel limit against decompression bombs; TOOTHSEG_MAX_PIXELS overrides it."""
    return int(os.environ.get("TOOTHSEG_MAX_PIXELS", DEFAULT_MAX_PIXELS))


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def is_dicom(path: Path, head: bytes | None = None) -> bool:
    if path.suffix.lower() in (".dcm", ".dicom"):
        return True
    if head is None:
        with open(path, "rb") as fh:
            head = fh.read(132)
    return len(head) >= 132 and head[128:132] == b"DICM"


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) without decoding pixels where the header allows it."""
    path = Path(path)
    head = _read_head(path)
    if is_dicom(path, head):
        ds = _dicom_dataset(path, stop_before_pixels=True)
        return int(ds.Columns), int(ds.Rows)
    size = header_size(path, head)
    if size is None:
        img = read_image(path)
        return img.shape[1], img.shape[0]
    return size


def read_image(path: str | os.PathLike, *, dicom_window: bool = True) -> np.ndarray:
    """Read an image as a 2-D grayscale array, refusing anything unsafe with a clear message."""
    path = Path(path)
    head = _read_head(path)
    if is_dicom(path, head):
        return _read_dicom(path, window=dicom_window)
    size = header_size(path, head)
    if size is not None:
        _check_pixels(path, *size)
    if path.suffix.lower() in (".tif", ".tiff"):
        img = _read_tiff(path)
    else:
        img = _decode(path, cv2.IMREAD_UNCHANGED)
    return _finite(to_grayscale(img, path), path)


def _finite(img: np.ndarray, path: Path) -> np.ndarray:
    """Refuse float images holding NaN or infinity: they would turn into garbage predictions silently."""
    if img.dtype.kind == "f" and not np.isfinite(img).all():
        bad = int(img.size - np.isfinite(img).sum())
        raise ImageReadError(f"{path.name}: {bad} pixel(s) are NaN or infinite (a float image with missing "
                             "values?); fill them or export the image as 8/16-bit")
    return img


def to_grayscale(img: np.ndarray, path: Path | None = None) -> np.ndarray:
    """Collapse colour to one channel: identical channels are taken as-is, real colour by luminance."""
    name = path.name if path is not None else "image"
    if img.ndim == 2:
        out = img
    elif img.ndim == 3 and img.shape[2] in (3, 4):
        rgb = img[:, :, :3]
        if np.array_equal(rgb[:, :, 0], rgb[:, :, 1]) and np.array_equal(rgb[:, :, 1], rgb[:, :, 2]):
            out = rgb[:, :, 0]
        else:
            out = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_BGR2GRAY)
    elif img.ndim == 3 and img.shape[2] == 2:  # gray + alpha
        out = img[:, :, 0]
    elif img.ndim == 3 and img.shape[2] == 1:
        out = img[:, :, 0]
    else:
        raise ImageReadError(f"{name}: unsupported image shape {img.shape}")
    if out.dtype not in (np.uint8, np.uint16, np.float32):
        if np.issubdtype(out.dtype, np.floating):
            out = out.astype(np.float32)
        elif np.issubdtype(out.dtype, np.integer) and out.min() >= 0 and out.max() <= 65535:
            out = out.astype(np.uint16)
        else:
            raise ImageReadError(f"{name}: unsupported pixel type {out.dtype}")
    return np.ascontiguousarray(out)


def to_unit_float(img: np.ndarray, window: tuple[float, float] | None = None) -> np.ndarray:
    """Scale an image to float32 [0, 1]: uint8 by 255, uint16 by its own range or a (low, high) window."""
    if window is not None:
        lo, hi = window
        return np.clip((img.astype(np.float32) - lo) / max(hi - lo, 1e-6), 0.0, 1.0)
    if img.dtype == np.uint8:
        return img.astype(np.float32) / 255.0
    if img.dtype == np.uint16:
        lo, hi = float(img.min()), float(img.max())
        return (img.astype(np.float32) - lo) / max(hi - lo, 1.0)
    return np.clip(img.astype(np.float32), 0.0, 1.0)


def to_uint8(img: np.ndarray, window: tuple[float, float] | None = None) -> np.ndarray:
    if img.dtype == np.uint8 and window is None:
        return img
    return (to_unit_float(img, window) * 255.0 + 0.5).astype(np.uint8)


# ----------------------------------------------------------------------------------------- masks

@dataclass(frozen=True)
class MaskEncoding:
    """How a mask file stores labels, so edits are written back the way the dataset expects."""

    kind: str  # "binary255" (0/255), "binary01" (0/1), "labelmap" (raw values), "jpeg255"

    def encode(self, labels: np.ndarray) -> np.ndarray:
        if self.kind in ("binary255", "jpeg255"):
            return np.where(labels > 0, 255, 0).astype(np.uint8)
        if self.kind == "binary01":
            return (labels > 0).astype(np.uint8)
        return labels.astype(np.uint8)


def read_mask(path: str | os.PathLike, expected_size: tuple[int, int] | None = None) -> np.ndarray:
    """Read a mask as a uint8 label map (0/255 and JPEG masks become 0/1; label maps keep their values)."""
    labels, _ = read_mask_with_encoding(path, expected_size)
    return labels


def read_mask_with_encoding(
    path: str | os.PathLike, expected_size: tuple[int, int] | None = None
) -> tuple[np.ndarray, MaskEncoding]:
    path = Path(path)
    try:
        raw = read_image(path, dicom_window=False)
    except ImageReadError as exc:
        raise MaskError(f"Unreadable mask: {exc}") from exc
    if expected_size is not None and (raw.shape[1], raw.shape[0]) != tuple(expected_size):
        raise MaskError(
            f"{path.name}: mask is {raw.shape[1]}x{raw.shape[0]} but its image is "
            f"{expected_size[0]}x{expected_size[1]}"
        )
    if path.suffix.lower() in (".jpg", ".jpeg"):
        return (raw > 127).astype(np.uint8), MaskEncoding("jpeg255")
    if raw.dtype != np.uint8:
        if raw.dtype == np.uint16 and int(raw.max()) <= 255:
            raw = raw.astype(np.uint8)
        elif raw.dtype == np.uint16 and set(np.unique(raw).tolist()) <= {0, 65535}:
            return (raw > 0).astype(np.uint8), MaskEncoding("binary255")
        else:
            raise MaskError(f"{path.name}: mask values exceed 255 (max {raw.max()}); not a label map")
    values = np.flatnonzero(np.bincount(raw.ravel(), minlength=256))  # np.unique is 8x slower on uint8
    if values.size <= 2 and values.max(initial=0) == 255:
        return (raw > 0).astype(np.uint8), MaskEncoding("binary255")
    if values.size <= 2 and values.max(initial=0) <= 1:
        return raw, MaskEncoding("binary01")
    return raw, MaskEncoding("labelmap")


def write_mask(path: str | os.PathLike, labels: np.ndarray, encoding: MaskEncoding | None = None) -> Path:
    """Write a label map atomically in the given encoding (PNG label map by default)."""
    path = Path(path)
    if labels.ndim != 2:
        raise MaskError(f"{path.name}: a mask must be 2-D, got shape {labels.shape}")
    if labels.dtype != np.uint8:
        if labels.size and (labels.min() < 0 or labels.max() > 255):
            raise MaskError(f"{path.name}: label values must lie in 0..255")
        labels = labels.astype(np.uint8)
    encoding = encoding or MaskEncoding("labelmap")
    ext = path.suffix.lower()
    pixels = encoding.encode(labels)
    if ext in (".jpg", ".jpeg"):
        ok, buf = cv2.imencode(ext, pixels, [cv2.IMWRITE_JPEG_QUALITY, 100])
        back = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE) if ok else None
        if back is None or not np.array_equal(back > 127, labels > 0):
            raise MaskError(f"{path.name}: this mask cannot be stored losslessly as JPEG; save it as PNG")
    elif ext in (".png", ".bmp", ".tif", ".tiff"):
        ok, buf = cv2.imencode(ext, pixels)
    else:
        raise MaskError(f"{path.name}: masks are written as PNG, BMP, TIFF or JPEG, not '{ext}'")
    if not ok:
        raise MaskError(f"{path.name}: could not encode mask")
    return atomic_write_bytes(path, buf.tobytes())


# ----------------------------------------------------------------------------------------- helpers

def _read_head(path: Path) -> bytes:
    try:
        with open(path, "rb") as fh:
            head = fh.read(65536)
    except FileNotFoundError as exc:
        raise ImageReadError(f"{path}: file not found") from exc
    except IsADirectoryError as exc:
        raise ImageReadError(f"{path}: is a folder, not an image") from exc
    except OSError as exc:
        raise ImageReadError(f"{path}: cannot open ({exc.strerror})") from exc
    if not head:
        raise ImageReadError(f"{path.name}: empty file (0 bytes)")
    return head


def _check_pixels(path: Path, width: int, height: int) -> None:
    if width <= 0 or height <= 0:
        raise ImageReadError(f"{path.name}: header declares an empty image ({width}x{height})")
    if width * height > max_pixels():
        raise ImageReadError(
            f"{path.name}: {width}x{height} pixels exceeds the limit of {max_pixels():,} pixels "
            "(possible decompression bomb); set TOOTHSEG_MAX_PIXELS to allow larger images"
        )


def checked_bytes(path: str | os.PathLike) -> np.ndarray:
    """The file's bytes for ``cv2.imdecode`` once the header's size is within the pixel limit and a
    PNG or JPEG is whole: what every OpenCV decode of a user's file (thumbnails too) goes through."""
    path = Path(path)
    size = header_size(path, _read_head(path))
    if size is not None:
        _check_pixels(path, *size)
    return _bytes(path)


def _bytes(path: Path) -> np.ndarray:
    try:
        data = np.fromfile(path, dtype=np.uint8)  # works with non-ASCII paths on Windows
    except OSError as exc:
        raise ImageReadError(f"{path}: cannot read ({exc.strerror})") from exc
    if data[:2].tobytes() == b"\xff\xd8" and b"\xff\xd9" not in data[-4096:].tobytes():
        raise ImageReadError(f"{path.name}: truncated JPEG (the end-of-image marker is missing)")
    if data[:8].tobytes() == PNG_SIGNATURE:
        _check_png_chunks(path, data)
    return data


def decode(data: np.ndarray, flags: int) -> np.ndarray | None:
    """``cv2.imdecode`` without libjpeg / libpng warnings on the terminal (``core.data.quiet``)."""
    with quiet_c_stderr():
        return cv2.imdecode(data, flags)


def _decode(path: Path, flags: int) -> np.ndarray:
    data = _bytes(path)
    img = decode(data, flags)
    if img is None:
        raise ImageReadError(f"{path.name}: not a readable image (corrupt, truncated or unsupported format)")
    if img.ndim == 3 and img.shape[2] == 4:
        img = img[:, :, :3]
    return img


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_CRITICAL = (b"IHDR", b"PLTE", b"IDAT", b"IEND")


def _check_png_chunks(path: Path, data: np.ndarray) -> None:
    """Walk a PNG's chunks (checksums of the critical ones, the IEND marker) before libpng sees it.

    Truncated and damaged files get a precise message here (a CRC pass costs ~0.1 ms per
    megabyte) instead of OpenCV's "not readable"; a crafted file with valid checksums over a broken
    stream still reaches libpng, whose complaint ``decode`` keeps off the terminal.
    """
    buf = data.tobytes()
    pos = 8
    while True:
        if pos + 12 > len(buf):
            raise ImageReadError(f"{path.name}: truncated PNG (the file ends before its IEND marker)")
        length, kind = struct.unpack(">I4s", buf[pos:pos + 8])
        end = pos + 8 + length
        if end + 4 > len(buf):
            raise ImageReadError(f"{path.name}: truncated PNG (the {kind.decode('latin-1')!r} chunk is cut off)")
        if kind in _PNG_CRITICAL and zlib.crc32(buf[pos + 4:end]) != struct.unpack(">I", buf[end:end + 4])[0]:
            raise ImageReadError(f"{path.name}: corrupt PNG (the {kind.decode('latin-1')} chunk fails its checksum)")
        if kind == b"IEND":
            return
        pos = end + 4


def _read_tiff(path: Path) -> np.ndarray:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            h, w = page.shape[:2] if page.axes[:2] == "YX" else (None, None)
            if h is not None:
                _check_pixels(path, w, h)
            img = page.asarray()
    except ImageReadError:
        raise
    except Exception as exc:
        raise ImageReadError(f"{path.name}: unreadable TIFF ({exc})") from exc
    if img.ndim == 3 and img.shape[0] in (3, 4) and img.shape[-1] not in (3, 4):
        img = np.moveaxis(img, 0, -1)
    if img.ndim == 3 and img.shape[2] in (3, 4):
        img = img[:, :, 2::-1] if img.shape[2] == 3 else img[:, :, [2, 1, 0]]  # RGB -> BGR like OpenCV
    return img


def _dicom_dataset(path: Path, stop_before_pixels: bool = False):
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        return pydicom.dcmread(path, stop_before_pixels=stop_before_pixels, force=True)
    except (InvalidDicomError, OSError, ValueError, EOFError) as exc:
        raise ImageReadError(f"{path.name}: unreadable DICOM ({exc})") from exc


def _read_dicom(path: Path, window: bool) -> np.ndarray:
    ds = _dicom_dataset(path)
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
    except AttributeError as exc:
        raise ImageReadError(f"{path.name}: DICOM file has no image") from exc
    _check_pixels(path, cols, rows)
    try:
        pixels = ds.pixel_array
    except Exception as exc:  # missing codec, truncated pixel data
        raise ImageReadError(f"{path.name}: DICOM pixel data cannot be decoded ({exc})") from exc
    if pixels.ndim == 3 and getattr(ds, "SamplesPerPixel", 1) == 1:
        pixels = pixels[0]  # multi-frame: first frame, like the first page of a TIFF
    if pixels.ndim == 3:
        return to_grayscale(pixels[:, :, ::-1], path)
    values = pixels.astype(np.float32) * float(getattr(ds, "RescaleSlope", 1) or 1) + float(
        getattr(ds, "RescaleIntercept", 0) or 0
    )
    if window:
        centre, width = _first(getattr(ds, "WindowCenter", None)), _first(getattr(ds, "WindowWidth", None))
        if centre is not None and width is not None and width > 0:
            lo, hi = centre - width / 2.0, centre + width / 2.0
        else:
            lo, hi = float(values.min()), float(values.max())
        values = np.clip((values - lo) / max(hi - lo, 1e-6), 0.0, 1.0)
    if str(getattr(ds, "PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        values = (1.0 if window else float(values.max()) + float(values.min())) - values
    if window:
        return values.astype(np.float32)
    if values.min() >= 0 and values.max() <= 65535:
        return np.round(values).astype(np.uint16)
    return values.astype(np.float32)


def _first(value) -> float | None:
    if value is None:
        return None
    try:
        return float(value[0]) if hasattr(value, "__len__") and not isinstance(value, str) else float(value)
    except (TypeError, ValueError, IndexError):
        return None
