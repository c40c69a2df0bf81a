"""User preferences that outlive a session (flip TTA, ...), one JSON file in the user-data directory
(not QSettings, so tests stay isolated with their own data directory)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from core.data.atomic import atomic_write_json
from core.data.project import user_data_dir

log = logging.getLogger("toothseg.app.preferences")


def _path() -> Path:
    return user_data_dir() / "preferences.json"


def load() -> dict[str, Any]:
    try:
        data = json.loads(_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def get(key: str, default: Any = None) -> Any:
    return load().get(key, default)


def put(key: str, value: Any) -> None:
    """Store one preference; a failure is logged, never raised (a preference is not worth a dialog)."""
    data = load()
    data[key] = value
    try:
        atomic_write_json(_path(), data)
    except Exception as exc:
        log.warning("could not save preference %s: %s", key, exc)
