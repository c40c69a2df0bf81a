"""Atomic file writes: a temporary file in the same folder, fsync, then rename over the target.

If anything fails (full disk, permission, crash) the previous file is untouched and no temporary
file is left behind.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from core.errors import ToothSegError


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` so that readers see either the old or the new file, never half."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise ToothSegError(_describe(exc, path)) from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        _remove_quietly(tmp)
        raise ToothSegError(_describe(exc, path)) from exc
    except BaseException:
        _remove_quietly(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def is_writable_dir(folder: str | os.PathLike) -> bool:
    """True when a file can really be created in ``folder`` (os.access lies on some network shares)."""
    folder = Path(folder)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".toothseg-probe-", dir=folder)
    except OSError:
        return False
    os.close(fd)
    _remove_quietly(tmp)
    return True


def _remove_quietly(tmp: str) -> None:
    try:
        os.unlink(tmp)
    except OSError:
        pass


def _describe(exc: OSError, path: Path) -> str:
    if exc.errno == errno.ENOSPC:
        return f"Not enough disk space to save {path}; nothing was changed."
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"No permission to write {path} (read-only folder?); nothing was changed."
    return f"Could not save {path}: {exc.strerror or exc}; nothing was changed."
