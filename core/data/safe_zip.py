"""Reading a split zip without merging it on disk, and extracting it so nothing can escape.

A ``.zip.001 .. .zip.NNN`` set is plain byte concatenation of one zip file; ``ConcatReader`` shows
the parts to ``zipfile`` as one seekable file, which saves writing a second copy of a multi-GB
archive. Extraction checks every entry before writing a single byte, checks free space, writes into
a temporary sibling folder and renames it into place, so failure or cancel leaves nothing behind.
"""

from __future__ import annotations

import io
import os
import re
import secrets
import shutil
import stat
import zipfile
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

from core.errors import CancelledError, ImportArchiveError
from core.jobs import CancelToken, Progress

CHUNK = 1 << 20
SPACE_MARGIN = 64 << 20  # keep a little room for file-system overhead
_DRIVE = re.compile(r"^[A-Za-z]:")


class ConcatReader(io.RawIOBase):
    """Several files read back to back as one seekable, read-only binary file."""

    def __init__(self, paths: Sequence[Path]):
        super().__init__()
        self._paths = [Path(p) for p in paths]
        self._sizes = [p.stat().st_size for p in self._paths]
        self._starts = [sum(self._sizes[:i]) for i in range(len(self._sizes))]
        self._size = sum(self._sizes)
        self._pos = 0
        self._handles: dict[int, io.BufferedReader] = {}

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise OSError("negative seek position")
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(view) and self._pos < self._size:
            index = max(i for i, start in enumerate(self._starts) if start <= self._pos)
            handle = self._handle(index)
            handle.seek(self._pos - self._starts[index])
            want = min(len(view) - filled, self._starts[index] + self._sizes[index] - self._pos)
            got = handle.readinto(view[filled:filled + want])
            if not got:
                raise OSError(f"{self._paths[index].name} is shorter than when the import started")
            filled += got
            self._pos += got
        return filled

    def _handle(self, index: int) -> io.BufferedReader:
        if index not in self._handles:
            self._handles[index] = open(self._paths[index], "rb")
        return self._handles[index]

    def close(self) -> None:
        for handle in self._handles.values():
            handle.close()
        self._handles.clear()
        super().close()


def unsafe_reason(info: zipfile.ZipInfo) -> str | None:
    """Why an entry must not be extracted, or None when it stays inside the destination."""
    name = info.filename.replace("\\", "/")
    if "\x00" in name:
        return "contains a NUL byte"
    if name.startswith("/"):
        return "is an absolute path"
    if _DRIVE.match(name):
        return "names a drive letter"
    if any(part == ".." for part in name.split("/")):
        return "climbs out of the destination with '..'"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "is a symbolic link"
    if info.flag_bits & 0x1:
        return "is encrypted"
    return None


# Size-bomb limits. Deflate cannot pack more than ~1032:1, so a 1 GiB entry from 1 MB is zeros made
# to fill a disk; real X-ray archives (PNG/JPEG inside) are close to 1:1 and even uncompressed TIFF
# or BMP masks stay far below 100:1 overall. Small entries may compress as they like.
MAX_RATIO = 100                   # uncompressed / compressed, over the whole archive
RATIO_FLOOR = 64 << 20            # ... checked once the archive unpacks to more than this
MAX_ENTRY_RATIO = 500             # one entry's ratio, checked for entries above ENTRY_FLOOR
ENTRY_FLOOR = 16 << 20
DEFAULT_MAX_BYTES = 200 << 30     # STS-2D-Tooth unpacks to a few GB; TOOTHSEG_MAX_UNZIP_BYTES overrides


def max_unzip_bytes() -> int:
    return int(os.environ.get("TOOTHSEG_MAX_UNZIP_BYTES", DEFAULT_MAX_BYTES))


def check_archive(zf: zipfile.ZipFile) -> int:
    """Reject the whole archive if any entry is unsafe or it is a size bomb; returns the total
    uncompressed size. Only the directory is read: nothing is decompressed to decide."""
    seen: set[str] = set()
    for info in zf.infolist():
        reason = unsafe_reason(info)
        key = info.filename.replace("\\", "/").rstrip("/")
        if reason is None and key in seen:
            reason = "appears twice"
        if reason is None and info.file_size > ENTRY_FLOOR and \
                info.file_size > MAX_ENTRY_RATIO * max(info.compress_size, 1):
            reason = (f"unpacks {_human(info.compress_size)} into {_human(info.file_size)} "
                      f"(more than {MAX_ENTRY_RATIO}:1, a decompression bomb)")
        if reason:
            raise ImportArchiveError(f"archive refused, nothing was extracted: entry {info.filename!r} {reason}")
        seen.add(key)
    total = sum(info.file_size for info in zf.infolist())
    packed = sum(info.compress_size for info in zf.infolist())
    if total > max_unzip_bytes():
        raise ImportArchiveError(f"archive refused, nothing was extracted: it unpacks to {_human(total)}, more "
                                 f"than the limit of {_human(max_unzip_bytes())} (set TOOTHSEG_MAX_UNZIP_BYTES "
                                 "to allow more)")
    if total > RATIO_FLOOR and total > MAX_RATIO * max(packed, 1):
        raise ImportArchiveError(f"archive refused, nothing was extracted: {_human(packed)} unpack into "
                                 f"{_human(total)} (more than {MAX_RATIO}:1, a decompression bomb)")
    return total


def extract_safely(source: Path | Sequence[Path], dest: Path, progress: Progress | None = None,
                   cancel: CancelToken | None = None,
                   check_tree: Callable[[Path], str | None] | None = None) -> int:
    """Extract a zip (one file or the ordered parts of a split zip) to ``dest``; returns bytes written.

    ``dest`` must not exist or be an empty folder. ``check_tree(tmp)`` may refuse the extracted
    tree (return a message) before it is moved into place.
    """
    paths = [Path(source)] if isinstance(source, (str, Path)) else [Path(p) for p in source]
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ImportArchiveError(f"{dest} already exists and is not empty; choose a new destination folder")
    reader = io.BufferedReader(ConcatReader(paths), buffer_size=CHUNK)
    try:
        zf = zipfile.ZipFile(reader)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        reader.close()
        names = ", ".join(p.name for p in paths)
        raise ImportArchiveError(f"{names}: not a readable zip archive (a part missing or out of order?)") from exc
    with zf, reader:
        total = check_archive(zf)
        check_space(dest.parent, total, "the dataset", "nothing was extracted")
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.parent / f".{dest.name}.extracting-{secrets.token_hex(4)}"
            tmp.mkdir()  # not mkdtemp: the dataset folder gets the user's usual permissions, not 0700
        except OSError as exc:
            raise ImportArchiveError(f"cannot write into {dest.parent}: {exc.strerror or exc}; "
                                     "nothing was extracted") from exc
        try:
            written = _extract_all(zf, tmp, total, progress, cancel)
            problem = check_tree(tmp) if check_tree else None
            if problem:
                raise ImportArchiveError(f"archive refused, nothing was kept: {problem}")
            if dest.exists():
                dest.rmdir()
            os.replace(tmp, dest)
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise ImportArchiveError(f"archive is corrupt, nothing was kept: {exc}") from exc
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise ImportArchiveError(f"extraction into {dest.parent} failed, nothing was kept: "
                                     f"{exc.strerror or exc}") from exc
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return written


def _extract_all(zf: zipfile.ZipFile, root: Path, total: int, progress: Progress | None,
                 cancel: CancelToken | None) -> int:
    done = 0
    prefix = os.path.normpath(root) + os.sep
    for info in zf.infolist():
        target = root.joinpath(*[p for p in info.filename.replace("\\", "/").split("/") if p not in ("", ".")])
        if not os.path.normpath(target).startswith(prefix):  # belt and braces after check_archive
            raise ImportArchiveError(f"archive refused: entry {info.filename!r} escapes the destination")
        if info.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with zf.open(info) as src, open(target, "xb") as out:
            while chunk := src.read(CHUNK):
                if cancel and cancel.cancelled:
                    raise CancelledError("extraction cancelled; nothing was kept")
                out.write(chunk)
                done += len(chunk)
                if done > total:
                    raise ImportArchiveError("archive refused: it holds more data than its directory declares")
                if progress:
                    progress(done, total, "extracting")
    return done


def check_space(folder: Path, needed: int, what: str, outcome: str) -> None:
    """Refuse before writing when the disk holding ``folder`` (or its nearest existing parent) is short."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < needed + SPACE_MARGIN:
        raise ImportArchiveError(f"not enough disk space in {probe}: {what} needs {_human(needed)} "
                                 f"(+{_human(SPACE_MARGIN)} margin), {_human(free)} free; {outcome}")


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"
