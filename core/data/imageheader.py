"""Read image dimensions from file headers without decoding pixels.

Used to refuse decompression bombs before any allocation, and to make `check` fast.
"""

from __future__ import annotations

import struct
from pathlib import Path

from core.errors import ImageReadError

_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def header_size(path: Path, head: bytes | None = None) -> tuple[int, int] | None:
    """(width, height) from the header, or None when the format is not one parsed here."""
    if head is None:
        with open(path, "rb") as fh:
            head = fh.read(65536)
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        if len(head) < 24:
            raise ImageReadError(f"{path.name}: truncated PNG header")
        w, h = struct.unpack(">II", head[16:24])
        return int(w), int(h)
    if head.startswith(b"\xff\xd8"):
        return _jpeg_size(path, head)
    if head.startswith(b"BM") and len(head) >= 26:
        w, h = struct.unpack("<ii", head[18:26])
        return abs(int(w)), abs(int(h))
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return _tiff_size(path)
    return None


def _jpeg_size(path: Path, head: bytes) -> tuple[int, int]:
    data = head
    i = 2
    with open(path, "rb") as fh:
        while True:
            while i + 4 > len(data):
                more = fh.read(65536) if len(data) >= 65536 else b""
                if not more:
                    raise ImageReadError(f"{path.name}: truncated JPEG (no frame header)")
                data += more
            if data[i] != 0xFF:
                raise ImageReadError(f"{path.name}: corrupt JPEG header")
            marker = data[i + 1]
            if marker == 0xFF:
                i += 1
                continue
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                i += 2
                continue
            seg_len = struct.unpack(">H", data[i + 2 : i + 4])[0]
            if marker in _JPEG_SOF:
                while i + 9 > len(data):
                    more = fh.read(65536)
                    if not more:
                        raise ImageReadError(f"{path.name}: truncated JPEG frame header")
                    data += more
                h, w = struct.unpack(">HH", data[i + 5 : i + 9])
                return int(w), int(h)
            i += 2 + seg_len
            if len(data) < i + 4:
                fh.seek(0)
                data = fh.read(i + 65536)


def _tiff_size(path: Path) -> tuple[int, int]:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            shape = page.shape
    except Exception as exc:  # tifffile raises many types for corrupt files
        raise ImageReadError(f"{path.name}: unreadable TIFF ({exc})") from exc
    if page.is_tiled or len(shape) >= 2:
        axes = page.axes
        h = shape[axes.index("Y")] if "Y" in axes else shape[0]
        w = shape[axes.index("X")] if "X" in axes else shape[1]
        return int(w), int(h)
    raise ImageReadError(f"{path.name}: TIFF page has no 2-D image")
