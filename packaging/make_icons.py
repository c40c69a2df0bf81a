"""Render resources/icons/app.svg into the icon files installers need: app.png, app.ico, app.icns.

Run after editing the SVG: ``python packaging/make_icons.py``. Qt draws the SVG (the same renderer the
app uses at run time); Pillow writes the multi-size .ico (Windows) and .icns (macOS).
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

ICONS = Path(__file__).resolve().parents[1] / "resources" / "icons"
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
ICNS_SIZE = 1024


def render_png(svg: Path, size: int) -> bytes:
    """The SVG drawn at ``size`` x ``size`` on a transparent background, as PNG bytes."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6 import QtCore, QtGui, QtSvg

    _app = QtGui.QGuiApplication.instance() or QtGui.QGuiApplication(sys.argv[:1])
    renderer = QtSvg.QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise ValueError(f"{svg}: not a valid SVG")
    image = QtGui.QImage(size, size, QtGui.QImage.Format.Format_ARGB32)
    image.fill(QtCore.Qt.GlobalColor.transparent)
    painter = QtGui.QPainter(image)
    painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    buf = QtCore.QBuffer()
    buf.open(QtCore.QIODevice.OpenModeFlag.WriteOnly)
    image.save(buf, "PNG")
    return bytes(buf.data())


def make_icons(svg: Path = ICONS / "app.svg", out: Path = ICONS) -> list[Path]:
    from PIL import Image

    big = Image.open(io.BytesIO(render_png(svg, ICNS_SIZE))).convert("RGBA")
    written = [out / "app.png", out / "app.ico", out / "app.icns"]
    Image.open(io.BytesIO(render_png(svg, 256))).save(written[0])
    big.save(written[1], sizes=[(s, s) for s in ICO_SIZES])
    big.save(written[2])
    return written


if __name__ == "__main__":
    for path in make_icons():
        print(f"{path} ({path.stat().st_size} bytes)")
