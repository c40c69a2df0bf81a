"""Atomic file writes: a temporary file in the same folder, fsync, then rename over the target.

If anything fails (full disk, permission, crash) the previous file is untouched and no temporary
file is left behind; a file written over keeps its permission bits, a new one gets the umask's.
A full disk is its own error (``DiskFullError``), never mistaken for a read-only folder. A writer
holds an advisory lock on its temporary file, so ``remove_stale_temps`` can tell the leftovers of
a killed process (unlocked) from a write in progress.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from core.errors import DiskFullError, NotWritableError, ToothSegError

FULL_ERRNOS = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}
DENIED_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS}
TEMP_RE = re.compile(r"^\.(?P<target>.+)\.[a-z0-9_]{8}\.tmp$")   # tempfile.mkstemp's 8 random characters
TEMP_MIN_AGE_S = 1.0        # younger temp files may be between mkstemp and their lock: leave them alone
TEMP_MAX_AGE_S = 3600.0     # no write takes an hour: older ones go even where locks are not supported


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` so that readers see either the old or the new file, never half."""
    return atomic_write_files([(path, data)])[0]


def atomic_write_files(items: Iterable[tuple[str | os.PathLike, bytes]]) -> list[Path]:
    """Write several files as one unit as far as a disk allows: every temporary file is written and
    synced before the first rename, so a full disk or a permission error changes none of them."""
    staged: list[tuple[str, Path]] = []
    try:
        for path, data in items:
            path = Path(path)
            staged.append((_write_temp(path, data), path))
        for tmp, path in staged:
            os.replace(tmp, path)
    except OSError as exc:
        for tmp, _ in staged:
            _remove_quietly(tmp)
        raise error_for(exc, staged[-1][1] if staged else Path(".")) from exc
    except BaseException:
        for tmp, _ in staged:
            _remove_quietly(tmp)
        raise
    return [path for _, path in staged]


def _write_temp(path: Path, data: bytes) -> str:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise error_for(exc, path) from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            _lock_nowait(fh.fileno())
            if hasattr(os, "fchmod"):
                os.fchmod(fh.fileno(), _mode_for(path))
            else:
                os.chmod(tmp, _mode_for(path))
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        _remove_quietly(tmp)
        raise error_for(exc, path) from exc
    except BaseException:
        _remove_quietly(tmp)
        raise
    return tmp


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def is_writable_dir(folder: str | os.PathLike) -> bool:
    """True when a file can really be created in ``folder`` (os.access lies on some network shares).

    A full disk raises DiskFullError instead of answering False: it is not a read-only folder.
    """
    folder = Path(folder)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".toothseg-probe-", dir=folder)
    except OSError as exc:
        if exc.errno in FULL_ERRNOS:
            raise error_for(exc, folder) from exc
        return False
    os.close(fd)
    _remove_quietly(tmp)
    return True


def error_for(exc: OSError, path: Path) -> ToothSegError:
    """The user-facing error for a failed write: disk full, not writable, or anything else."""
    if exc.errno in FULL_ERRNOS:
        return DiskFullError(f"The disk is full: could not save {path}; the previous file and the unsaved "
                             "edits were kept. Free some space and save again.")
    if exc.errno in DENIED_ERRNOS:
        return NotWritableError(f"No permission to write {path} (read-only folder?); nothing was changed.")
    return ToothSegError(f"Could not save {path}: {exc.strerror or exc}; nothing was changed.")


# ------------------------------------------------------------------------------ modes

def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (/proc on Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (a new file in between would get 0o022 at worst)
    os.umask(mask)
    return mask


def _mode_for(path: Path) -> int:
    """The permission bits the written file should have: the old file's, else what open() would give."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return 0o666 & ~current_umask()


# ------------------------------------------------------------------------------ stale temporary files

def remove_stale_temps(folders: Iterable[str | os.PathLike], min_age_s: float = TEMP_MIN_AGE_S) -> list[Path]:
    """Delete temporary files our atomic writes left behind when a process was killed.

    Only names of our own pattern (``.<name>.<8 chars>.tmp``) are considered, and only when no live
    writer holds their lock (or they are older than an hour); returns what was removed.
    """
    removed: list[Path] = []
    now = time.time()
    for folder in {Path(f) for f in folders}:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if not TEMP_RE.match(entry.name) or not entry.is_file(follow_symlinks=False):
                continue
            try:
                age = now - entry.stat(follow_symlinks=False).st_mtime
            except OSError:
                continue
            if age < min_age_s or (age < TEMP_MAX_AGE_S and _locked_by_writer(entry.path)):
                continue
            try:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
            except OSError:
                pass
    return removed


def _locked_by_writer(path: str) -> bool:
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return True  # cannot even open it (gone, or held open on Windows): leave it
    try:
        return not _lock_nowait(fd)
    finally:
        os.close(fd)  # closing drops our probe lock


def _lock_nowait(fd: int) -> bool:
    """Take an exclusive advisory lock on ``fd`` without waiting; False when someone else holds it.
    Windows has no flock, but a file open in another process cannot be deleted there anyway."""
    held = flock_nowait(fd)
    return True if held is None else held


def flock_nowait(fd: int) -> bool | None:
    """POSIX ``flock`` without waiting: True taken, False held by another process, None where there is
    no ``fcntl`` (Windows). A file system without locks (some network shares) counts as taken, so
    callers fall back to their other rules instead of waiting forever."""
    try:
        import fcntl
    except ImportError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:
        return True
    return True


def _remove_quietly(tmp: str) -> None:
    try:
        os.unlink(tmp)
    except OSError:
        pass
