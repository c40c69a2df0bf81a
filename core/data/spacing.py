"""Physical pixel size of an image, when the file says it: a ruler and areas in millimetres.

DICOM is the one format that reliably carries it: PixelSpacing (patient plane) or, for projection
radiographs such as panoramics, ImagerPixelSpacing (detector plane). PNG / JPEG "dpi" values are
screen conventions, not anatomy, so they are not used.
"""

from __future__ import annotations

import math
from pathlib import Path

MAX_MM = 50.0   # larger "pixels" are a broken header, not an image


def pixel_spacing(path: str | Path) -> tuple[float, float] | None:
    """(row spacing, column spacing) in mm, or None when the file does not say (or says nonsense)."""
    from core.data.io import is_dicom

    path = Path(path)
    try:
        if not is_dicom(path):
            return None
        import pydicom

        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True,
                             specific_tags=["PixelSpacing", "ImagerPixelSpacing"])
    except Exception:
        return None
    for tag in ("PixelSpacing", "ImagerPixelSpacing"):
        value = getattr(ds, tag, None)
        try:
            rows, cols = (float(v) for v in value)
        except (TypeError, ValueError):
            continue
        if all(math.isfinite(v) and 0 < v <= MAX_MM for v in (rows, cols)):
            return rows, cols
    return None


def length(p0: tuple[float, float], p1: tuple[float, float],
           spacing: tuple[float, float] | None) -> tuple[float, float | None]:
    """(length in pixels, length in mm or None) of the segment p0 -> p1 given as (x, y)."""
    dx, dy = p1[0] - p0[0], p1[1] - p0[1]
    px = math.hypot(dx, dy)
    if spacing is None:
        return px, None
    return px, math.hypot(dx * spacing[1], dy * spacing[0])


def area_mm2(pixels: int, spacing: tuple[float, float] | None) -> float | None:
    return None if spacing is None else pixels * spacing[0] * spacing[1]


def describe_length(px: float, mm: float | None) -> str:
    return f"{mm:.2f} mm ({px:.1f} px)" if mm is not None else f"{px:.1f} px (no pixel spacing in this file)"
