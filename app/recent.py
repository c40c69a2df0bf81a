"""Recently opened folders, kept in the user-data directory (not QSettings, so tests stay isolated)."""

from __future__ import annotations

import json
from pathlib import Path

from core.data.atomic import atomic_write_json
from core.data.project import user_data_dir

LIMIT = 10


def _path() -> Path:
    return user_data_dir() / "recent.json"


def recent_folders() -> list[Path]:
    try:
        items = json.loads(_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [Path(p) for p in items if isinstance(p, str) and Path(p).is_dir()]


def remember(folder: str | Path) -> None:
    folder = str(Path(folder).resolve())
    items = [folder] + [str(p) for p in recent_folders() if str(p) != folder]
    try:
        atomic_write_json(_path(), items[:LIMIT])
    except Exception:  # a recent-list failure must never stop a folder from opening
        pass
