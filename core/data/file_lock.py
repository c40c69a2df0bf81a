"""A short exclusive lock around a read-modify-write of one shared file (the project file).

The app, ``toothseg split`` and a training run may all save the project at once; each takes this
lock, re-reads the file, merges its own changes and writes, so none loses another's. Advisory
(``flock`` on POSIX, ``msvcrt.locking`` on Windows) on a ``<name>.lock`` file that is never deleted
(deleting it would let two processes lock two different files).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

from core.data.atomic import error_for, flock_nowait
from core.errors import ToothSegError

WAIT_S = 15.0


@contextlib.contextmanager
def locked(path: str | os.PathLike, wait_s: float = WAIT_S) -> Iterator[None]:
    """Hold the lock of ``path`` (file ``<path>.lock``) for the ``with`` body; waits up to ``wait_s``."""
    lock_path = Path(f"{os.fspath(path)}.lock")
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise error_for(exc, Path(path)) from exc
    try:
        deadline = time.monotonic() + wait_s
        while not _try_lock(fd):
            if time.monotonic() > deadline:
                raise ToothSegError(f"{path} is being saved by another program for over {wait_s:.0f} s; "
                                    "nothing was changed. Try again.")
            time.sleep(0.02)
        yield
    finally:
        _unlock(fd)
        os.close(fd)


def _try_lock(fd: int) -> bool:
    held = flock_nowait(fd)
    if held is not None:
        return held
    import msvcrt  # Windows

    try:
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError:
        return False
    return True


def _unlock(fd: int) -> None:
    try:
        import fcntl
    except ImportError:
        import msvcrt

        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        except OSError:
            pass
        return
    fcntl.flock(fd, fcntl.LOCK_UN)
