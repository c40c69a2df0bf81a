"""Who edits a dataset folder: lock files with their owner and a heartbeat (ADR 0009).

The first app instance on a folder writes ``lock.json`` (host, pid, user, app, instance token,
start time, heartbeat) into the per-user project dir (so opening never writes into the dataset)
and, once the folder has its own ``.toothseg/`` (from the first save on), there too, so instances
on other machines see it. It refreshes the heartbeat every ``HEARTBEAT_S``. A second instance
finds a lock held and opens the folder read-only, saying who holds it. A lock whose owner is gone
(same host, pid no longer alive) is taken over silently; one whose heartbeat stopped for
``STALE_S`` (another machine crashed, a laptop asleep) may be taken over by the user. An owner that
finds its lock taken over stops saving.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import time
import uuid
import weakref
from dataclasses import asdict, dataclass
from pathlib import Path

from core.data.atomic import atomic_write_json

LOCK_NAME = "lock.json"
HEARTBEAT_S = 30.0
STALE_S = 300.0
FRESH_S = 5.0        # an unreadable lock younger than this is being written: treat it as held
_LIVE: weakref.WeakValueDictionary[str, FolderLock] = weakref.WeakValueDictionary()  # this process's locks


@dataclass
class LockOwner:
    host: str
    pid: int
    user: str
    app: str
    token: str
    started: float
    heartbeat: float

    @classmethod
    def me(cls, app: str) -> LockOwner:
        try:
            user = getpass.getuser()
        except Exception:  # no login name (containers, services)
            user = "unknown user"
        now = time.time()
        return cls(socket.gethostname(), os.getpid(), user, app, uuid.uuid4().hex[:12], now, now)

    @classmethod
    def from_json(cls, data: object) -> LockOwner | None:
        try:
            return cls(str(data["host"]), int(data["pid"]), str(data["user"]), str(data["app"]),  # type: ignore[index]
                       str(data["token"]), float(data["started"]), float(data["heartbeat"]))  # type: ignore[index]
        except (TypeError, KeyError, ValueError):
            return None

    def gone(self) -> bool:
        """True when the owner certainly no longer runs (same host, process dead; in this process: its
        lock object was dropped without release, as a crashed session's is)."""
        if self.host != socket.gethostname():
            return False
        if self.pid == os.getpid():
            return self.token not in _LIVE
        return not _pid_alive(self.pid)

    def stale(self, now: float | None = None) -> bool:
        """True when the owner is gone or silent for ``STALE_S`` (the user may take the lock over)."""
        return self.gone() or (now or time.time()) - self.heartbeat > STALE_S

    def describe(self) -> str:
        since = time.strftime("%H:%M", time.localtime(self.started))
        return f"{self.short()} since {since}, last seen {self.silent()} ago"

    def short(self) -> str:
        return f"{self.user} on {self.host} ({self.app}, pid {self.pid})"

    def silent(self) -> str:
        seen = max(0, int(time.time() - self.heartbeat))
        return f"{seen} s" if seen < 120 else f"{seen // 60} min"


class FolderLock:
    """The edit lock of one project dir; ``acquire`` never raises for a lock someone else holds."""

    def __init__(self, folder: str | os.PathLike, owner: LockOwner | None = None):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.owner = owner or LockOwner.me("ToothSeg Studio")
        self.held = False
        self.holder: LockOwner | None = None   # the other owner when not held
        self.problem = ""                      # why the lock file could not be written (disk, permissions)
        self.contended = False                 # another instance holds (or is just creating) it
        _LIVE[self.owner.token] = self

    @property
    def token(self) -> str:
        return self.owner.token

    def acquire(self) -> bool:
        """Take the lock when free or left by a dead process on this host; else note its holder."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            return self._contended()
        except OSError as exc:
            self.problem = f"could not create the lock file {self.path} ({exc.strerror or exc})"
            return False
        try:
            os.write(fd, json.dumps(asdict(self.owner)).encode("utf-8"))
            os.fsync(fd)
        except OSError as exc:
            os.close(fd)
            self.path.unlink(missing_ok=True)
            self.problem = f"could not write the lock file {self.path} ({exc.strerror or exc})"
            return False
        os.close(fd)
        self.held, self.holder = True, None
        return True

    def _contended(self) -> bool:
        holder = self.read()
        if holder is None:
            if _age(self.path) < FRESH_S:
                self.holder, self.contended = None, True
                self.problem = "another instance is opening this folder right now"
                return False
            return self.take_over()  # unreadable and old: a writer was killed mid-write
        if holder.token == self.token:
            self.held = True
            return True
        if holder.gone():
            return self.take_over()
        self.holder, self.contended = holder, True
        return False

    def read(self) -> LockOwner | None:
        try:
            return LockOwner.from_json(json.loads(self.path.read_text(encoding="utf-8")))
        except (OSError, ValueError, UnicodeDecodeError):
            return None

    def take_over(self) -> bool:
        """Replace the lock with ours (the caller made sure the old owner is gone or stale)."""
        self.owner.heartbeat = time.time()
        try:
            atomic_write_json(self.path, asdict(self.owner))
        except Exception as exc:  # ToothSegError from the write: say why, stay read-only
            self.problem = str(exc)
            return False
        return self.verify()

    def verify(self) -> bool:
        """Is the lock still ours? (False after another instance took it over; ``holder`` says who.)"""
        current = self.read()
        self.held = current is not None and current.token == self.token
        self.holder = None if self.held else current
        return self.held

    def heartbeat(self) -> bool:
        """Refresh our heartbeat; False (and ``held`` False) when the lock was taken from us."""
        if not self.held or not self.verify():
            return False
        self.owner.heartbeat = time.time()
        try:
            atomic_write_json(self.path, asdict(self.owner))
        except Exception:  # a full disk must not end the session; the lock stays ours, only older
            pass
        return True

    def release(self) -> None:
        if self.held and self.verify():
            self.path.unlink(missing_ok=True)
        self.held = False

    def describe_holder(self) -> str:
        if self.holder is not None:
            return f"in use by {self.holder.describe()}"
        return self.problem or "in use by another instance"


class EditLock:
    """A folder's edit lock: the per-user lock file, plus the one inside the folder once it exists."""

    def __init__(self, inside: str | os.PathLike, aside: str | os.PathLike, app: str = "ToothSeg Studio"):
        self.inside, self.aside = Path(inside), Path(aside)
        self.owner = LockOwner.me(app)
        self.locks: list[FolderLock] = []
        self.held = False
        self.blocker: FolderLock | None = None     # the lock file that made us read-only
        self.problems: list[str] = []              # lock files that could not be written

    @property
    def token(self) -> str:
        return self.owner.token

    @property
    def holder(self) -> LockOwner | None:
        return self.blocker.holder if self.blocker is not None else None

    def _folders(self) -> list[Path]:
        inside = [self.inside] if self.inside != self.aside and self.inside.is_dir() else []
        return [self.aside, *inside]

    def acquire(self) -> bool:
        """Take every lock file; when one is held elsewhere give back the others and stay read-only."""
        for folder in self._folders():
            if not self._add(folder):
                return False
        self.held = True
        return True

    def _add(self, folder: Path, take_over: bool = False) -> bool:
        """Take one lock file; one that cannot be written at all (full disk, read-only) is skipped: the
        lock is a courtesy, the merges of masks and project file keep concurrent saves safe anyway."""
        lock = FolderLock(folder, self.owner)
        if lock.take_over() if take_over else lock.acquire():
            self.locks.append(lock)
            return True
        if not lock.contended:
            self.problems.append(lock.problem)
            return True
        self.blocker = lock
        self.release()
        return False

    def cover_inside(self) -> bool:
        """Before a save: once the folder has its ``.toothseg/``, lock it there too (False: someone else has)."""
        if not self.held or not self.inside.is_dir() or self.inside in {lk.folder for lk in self.locks}:
            return self.held
        if self.problems and any(str(self.inside) in p for p in self.problems):
            self.problems = [p for p in self.problems if str(self.inside) not in p]   # try again
        if self.inside == self.aside:
            return True
        return self._add(self.inside)

    def verify(self) -> bool:
        for lock in self.locks:
            if not lock.verify():
                self.blocker = lock
                self.held = False
        return self.held

    def heartbeat(self) -> bool:
        if not self.verify():
            return False
        for lock in self.locks:
            lock.heartbeat()
        return True

    def take_over(self) -> bool:
        """Replace every lock file with ours (the user chose to; the holder is gone or silent)."""
        self.locks, self.blocker = [], None
        for folder in self._folders():
            if not self._add(folder, take_over=True):
                return False
        self.held = True
        return True

    def stale(self) -> bool:
        """The holder is gone or silent for ``STALE_S`` (or the lock file is unreadable)."""
        holder = self.blocker.read() if self.blocker is not None else None
        return holder is None or holder.stale()

    def release(self) -> None:
        for lock in self.locks:
            lock.release()
        self.locks, self.held = [], False

    def describe_holder(self) -> str:
        return self.blocker.describe_holder() if self.blocker is not None else "in use by another instance"


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if os.name == "nt":
        import ctypes

        handle = ctypes.windll.kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        ctypes.windll.kernel32.CloseHandle(handle)
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return 0.0
