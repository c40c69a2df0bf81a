"""Icons and the style sheet, read from ``resources/`` (SVGs drawn for this project, no third-party art)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from PySide6 import QtGui

RESOURCES = Path(__file__).resolve().parents[1] / "resources"


@cache
def icon(name: str) -> QtGui.QIcon:
    path = RESOURCES / "icons" / f"{name}.svg"
    if not path.exists():
        raise FileNotFoundError(f"icon {name!r} missing from {path.parent}")
    return QtGui.QIcon(str(path))


def style_sheet() -> str:
    return (RESOURCES / "style.qss").read_text(encoding="utf-8")
