"""Importing STS-2D-Tooth: download (or pick up) the split zip, verify MD5 sums, extract safely, index.

The dataset is published on Zenodo as ``SD-Tooth.zip.001 .. .015``, plain byte slices of one zip.
Downloads go to a hidden sibling folder of the destination (``.<dest>.download``) so an interrupted
import resumes where it stopped; they are removed once the dataset is in place. Parts the user
downloaded themselves (``parts_dir``) are only read, never moved or deleted.
"""

from __future__ import annotations

import os
import re
import shutil
from collections import Counter
from pathlib import Path

from core.data.download import PartInfo, download_part, fetch_record, md5_of_file
from core.data.layouts import load_index, sts2d
from core.data.safe_zip import check_space, extract_safely
from core.errors import ImportArchiveError
from core.jobs import CancelToken, Progress

DEFAULT_RECORD_URL = "https://zenodo.org/api/records/10597292"
ARCHIVE_NAME = "SD-Tooth.zip"
PART_PATTERN = re.compile(r"^(?P<base>.+\.zip)\.(?P<num>\d{3})$", re.IGNORECASE)
_MD5 = re.compile(r"^[0-9a-fA-F]{32}$")


def download_folder(dest: Path) -> Path:
    """Where parts are downloaded for ``dest``: a hidden sibling, so a re-run finds and resumes them."""
    dest = Path(dest)
    return dest.parent / f".{dest.name}.download"


def import_sts(dest: Path, parts_dir: Path | None = None, record_url: str = DEFAULT_RECORD_URL,
               verify: bool = True, progress: Progress | None = None, cancel: CancelToken | None = None,
               timeout: float = 30.0) -> dict:
    """Download (or take from ``parts_dir``) STS-2D-Tooth, verify, extract to ``dest`` and index it.

    Safe to call from a worker thread: progress is ``progress(done, total, message)`` per phase
    (part name while downloading, "verifying <part>", "extracting"), and ``cancel`` is honoured
    between chunks. Raises ImportArchiveError (or CancelledError) with a message for the user.
    """
    try:
        return _import(Path(dest).expanduser().absolute(), parts_dir, record_url, verify, progress, cancel, timeout)
    except OSError as exc:  # anything the steps below did not already turn into a clear message
        where = f" ({exc.filename})" if exc.filename else ""
        raise ImportArchiveError(f"import failed: {exc.strerror or exc}{where}") from exc


def _import(dest: Path, parts_dir: Path | None, record_url: str, verify: bool, progress: Progress | None,
            cancel: CancelToken | None, timeout: float) -> dict:
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ImportArchiveError(f"{dest} already exists and is not empty; choose a new destination folder")
    cache: Path | None = None
    if parts_dir is None:
        parts = select_parts(fetch_record(record_url, timeout), f"the record {record_url}")
        cache = download_folder(dest)
        try:
            cache.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ImportArchiveError(f"cannot create the download folder {cache}: {exc.strerror or exc}") from exc
        try:
            paths = download_parts(parts, cache, progress, cancel, timeout)
        except BaseException:
            if not any(cache.iterdir()):
                cache.rmdir()  # nothing to resume: leave no trace
            raise
        sums = {p.name: p.md5 for p in parts if p.md5}
    else:
        paths, sums = local_parts(Path(parts_dir), record_url, verify, timeout)
    if verify:
        verify_parts(paths, sums, progress, cancel, move_bad_aside=cache is not None)
    extract_safely(paths, dest, progress, cancel, check_tree=_sts_tree_problem)
    summary = summarize(dest, verified=verify, parts=len(paths))
    if cache is not None:
        shutil.rmtree(cache, ignore_errors=True)
    return summary


def select_parts(files: list[PartInfo], where: str) -> list[PartInfo]:
    """The ``SD-Tooth.zip.NNN`` entries in order; refuses gaps so a missing part is named up front."""
    by_base: dict[str, list[tuple[int, PartInfo]]] = {}
    for part in files:
        match = PART_PATTERN.match(part.name)
        if match:
            by_base.setdefault(match["base"], []).append((int(match["num"]), part))
    if not by_base:
        raise ImportArchiveError(f"{where} lists no split-zip parts ({ARCHIVE_NAME}.001, .002, ...)")
    base = ARCHIVE_NAME if ARCHIVE_NAME in by_base else None
    if base is None:
        if len(by_base) > 1:
            raise ImportArchiveError(f"{where} holds several split archives ({', '.join(sorted(by_base))}); "
                                     "keep only the STS-2D-Tooth parts")
        base = next(iter(by_base))
    numbered = dict(by_base[base])
    missing = [f"{base}.{n:03d}" for n in range(1, max(numbered) + 1) if n not in numbered]
    if missing:
        raise ImportArchiveError(f"{where}: missing part(s) {', '.join(missing)}")
    return [numbered[n] for n in sorted(numbered)]


def download_parts(parts: list[PartInfo], folder: Path, progress: Progress | None = None,
                   cancel: CancelToken | None = None, timeout: float = 30.0) -> list[Path]:
    """Download every part not already complete in ``folder``, as one progress bar over all bytes."""
    grand_total = sum(p.size for p in parts)
    present = sum(_bytes_on_disk(folder, p) for p in parts)
    check_space(folder, grand_total - present, "the download", "nothing was downloaded")
    done = 0
    paths = []
    for part in parts:
        final = folder / part.name
        if final.exists() and final.stat().st_size != part.size:
            final.unlink()  # a stale or foreign file: fetch it again
        if not final.exists():
            download_part(part, folder, progress, done, grand_total, cancel, timeout)
        done += part.size
        if progress:
            progress(done, grand_total, part.name)
        paths.append(final)
    return paths


def _bytes_on_disk(folder: Path, part: PartInfo) -> int:
    for candidate in (folder / part.name, folder / (part.name + ".part")):
        if candidate.is_file() and candidate.stat().st_size <= part.size:
            return candidate.stat().st_size
    return 0


def local_parts(parts_dir: Path, record_url: str, verify: bool, timeout: float) -> tuple[list[Path], dict]:
    """Parts the user downloaded, and MD5 sums from a sums file there or else from the record."""
    if not parts_dir.is_dir():
        raise ImportArchiveError(f"{parts_dir}: parts folder not found")
    found = [PartInfo(p.name, p.stat().st_size, "", "") for p in sorted(parts_dir.iterdir())
             if p.is_file() and PART_PATTERN.match(p.name)]
    if not found:
        raise ImportArchiveError(f"{parts_dir} holds no split-zip parts ({ARCHIVE_NAME}.001, .002, ...)")
    parts = select_parts(found, str(parts_dir))
    paths = [parts_dir / p.name for p in parts]
    if not verify:
        return paths, {}
    sums = read_sums_files(parts_dir)
    if sums:
        return paths, sums
    try:
        listed = select_parts(fetch_record(record_url, timeout), f"the record {record_url}")
    except ImportArchiveError as exc:
        raise ImportArchiveError(
            f"no MD5 sums to verify the parts: no md5sums.txt or *.md5 in {parts_dir}, and {exc}; "
            "add a sums file or pass --no-verify to import without verification") from exc
    have = {p.name for p in parts}
    missing = [p.name for p in listed if p.name not in have]
    if missing:
        raise ImportArchiveError(f"{parts_dir}: missing part(s) {', '.join(missing)} listed by the record")
    for part in listed:
        size = (parts_dir / part.name).stat().st_size
        if size != part.size:
            raise ImportArchiveError(f"part {part.name} is {size} bytes but the record lists {part.size}; "
                                     "it is incomplete or corrupt, download it again")
    return paths, {p.name: p.md5 for p in listed if p.md5}


def read_sums_files(folder: Path) -> dict[str, str]:
    """``<hex>  <name>`` lines (md5sum format, ``*name`` too) from md5sums.txt and every *.md5 file."""
    sums: dict[str, str] = {}
    files = [folder / "md5sums.txt"] + sorted(folder.glob("*.md5"))
    for path in files:
        if not path.is_file():
            continue
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError as exc:
            raise ImportArchiveError(f"cannot read {path}: {exc.strerror or exc}") from exc
        for line in lines:
            fields = line.strip().split(maxsplit=1)
            if not fields or not _MD5.match(fields[0]):
                continue
            name = fields[1].lstrip("*").strip() if len(fields) == 2 else path.stem  # X.md5 holding only a hash
            sums[Path(name).name] = fields[0].lower()
    return sums


def verify_parts(paths: list[Path], sums: dict[str, str], progress: Progress | None = None,
                 cancel: CancelToken | None = None, move_bad_aside: bool = False) -> None:
    """Check every part's MD5; name every bad part in one error. Downloaded bad parts are renamed
    ``<name>.corrupt`` so the next run downloads them again; the user's own files are left alone."""
    unknown = [p.name for p in paths if p.name not in sums]
    if unknown:
        raise ImportArchiveError(f"no MD5 sum for {', '.join(unknown)}; pass --no-verify to skip verification")
    grand_total = sum(p.stat().st_size for p in paths)
    done = 0
    bad: list[str] = []
    for path in paths:
        size = path.stat().st_size
        if md5_of_file(path, progress, done, grand_total, cancel) != sums[path.name]:
            bad.append(path.name)
            if move_bad_aside:
                os.replace(path, path.with_name(path.name + ".corrupt"))
        done += size
    if bad:
        then = ("it was moved aside and will be downloaded again on the next run" if move_bad_aside
                else "replace it with a fresh download")
        raise ImportArchiveError(f"corrupt part(s) {', '.join(bad)}: MD5 sum does not match; {then}; "
                                 "nothing was extracted")


def summarize(dest: Path, verified: bool, parts: int) -> dict:
    """Index the extracted tree with the sts2d layout and count what it holds."""
    index = load_index(dest)
    if index.layout != "sts2d":
        raise ImportArchiveError(f"{dest} was extracted but is detected as {index.layout!r}, not STS-2D-Tooth")
    labeled = sum(1 for s in index if s.has_mask)
    groups = Counter(f"{s.meta.get('age_group', '')}/{s.meta.get('label_status', '')}" for s in index)
    return {"dest": str(dest), "layout": index.layout, "images": len(index), "labeled": labeled,
            "unlabeled": len(index) - labeled, "verified": verified, "parts": parts,
            "groups": dict(sorted(groups.items())), "tree_root": index.meta.get("tree_root", "")}


def _sts_tree_problem(folder: Path) -> str | None:
    if sts2d.detect(folder):
        return None
    return ("the archive does not hold the STS-2D-Tooth tree "
            "(A-PXI|C-PXI / Labeled|Unlabeled / Image|Mask)")
