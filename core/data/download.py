"""Resumable HTTP downloads of dataset parts, and the Zenodo record that lists them.

Only the standard library is used (urllib), so nothing extra ships with the desktop build. A part
is written to ``<name>.part`` and renamed when complete; an interrupted transfer is resumed with an
HTTP Range request, within the same run (a few retries) and across runs (the ``.part`` file stays).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from core.errors import ImportArchiveError
from core.jobs import CancelToken, Progress

CHUNK = 1 << 20
RETRIES = 3
USER_AGENT = "ToothSeg-Studio-importer"
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_RETRY_STATUS = (429, 500, 502, 503, 504)
_TRANSIENT = (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError, OSError)


@dataclass(frozen=True)
class PartInfo:
    """One file of a multi-part archive as the record describes it (md5 may be empty if unknown)."""

    name: str
    size: int
    md5: str
    url: str


def fetch_record(record_url: str, timeout: float = 30.0) -> list[PartInfo]:
    """Every file listed by a Zenodo record JSON (``files``: key, size, checksum "md5:..", links.self)."""
    _require_http(record_url)
    try:
        with urllib.request.urlopen(_request(record_url), timeout=timeout) as resp:
            payload = json.loads(resp.read(16 << 20).decode("utf-8"))
    except urllib.error.HTTPError as exc:
        raise ImportArchiveError(f"dataset record {record_url} answered HTTP {exc.code}") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise ImportArchiveError(f"dataset record {record_url} is not valid JSON") from exc
    except _TRANSIENT as exc:
        raise ImportArchiveError(f"cannot reach the dataset record {record_url}: {_reason(exc)}") from exc
    files = payload.get("files") if isinstance(payload, dict) else None
    if isinstance(files, dict):  # older Zenodo API shape: {"entries": {key: {...}}}
        files = list(files.get("entries", {}).values())
    if not isinstance(files, list):
        raise ImportArchiveError(f"dataset record {record_url} lists no files")
    parts = []
    for entry in files:
        try:
            name, size = str(entry["key"]), int(entry["size"])
            url = str(entry["links"].get("self") or entry["links"].get("content"))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ImportArchiveError(f"dataset record {record_url} has a malformed file entry") from exc
        checksum = str(entry.get("checksum", ""))
        md5 = checksum.split(":", 1)[1] if checksum.lower().startswith("md5:") else ""
        parts.append(PartInfo(name, size, md5.lower(), urllib.parse.urljoin(record_url, url)))
    return parts


def download_part(part: PartInfo, folder: Path, progress: Progress | None = None, base_done: int = 0,
                  grand_total: int = 0, cancel: CancelToken | None = None, timeout: float = 30.0) -> Path:
    """Download ``part`` into ``folder`` (resuming ``<name>.part``); returns the completed file.

    Progress is reported as ``base_done + bytes of this part`` out of ``grand_total`` so that a
    caller downloading several parts shows one bar. A cancel keeps the ``.part`` file for resuming.
    """
    _require_http(part.url)
    final = folder / part.name
    partial = folder / (part.name + ".part")
    total = grand_total or part.size
    for attempt in range(RETRIES + 1):
        if cancel:
            cancel.raise_if_cancelled(f"download of {part.name}")
        have = partial.stat().st_size if partial.exists() else 0
        if have > part.size:
            partial.unlink()
            have = 0
        if have == part.size and part.size > 0:
            break
        try:
            _fetch_into(part, partial, have, progress, base_done, total, cancel, timeout)
        except urllib.error.HTTPError as exc:
            if exc.code == 416:  # our partial file is bigger than or equal to the server's copy
                partial.unlink(missing_ok=True)
                continue
            if exc.code in _RETRY_STATUS and attempt < RETRIES:
                _pause(cancel, attempt, part.name)
                continue
            raise ImportArchiveError(f"download of {part.name} failed: HTTP {exc.code} from {part.url}") from exc
        except _TRANSIENT as exc:
            if attempt == RETRIES:
                got = partial.stat().st_size if partial.exists() else 0
                raise ImportArchiveError(
                    f"download of {part.name} interrupted at {got} of {part.size} bytes ({_reason(exc)}); "
                    "run the import again to resume") from exc
            _pause(cancel, attempt, part.name)
            continue
        if partial.exists() and partial.stat().st_size == part.size:
            break
    else:
        raise ImportArchiveError(f"download of {part.name} did not complete after {RETRIES + 1} attempts")
    os.replace(partial, final)
    return final


def _pause(cancel: CancelToken | None, attempt: int, name: str) -> None:
    """A short, cancellable wait before retrying a failed request."""
    token = cancel or CancelToken()
    if token.wait(min(2.0, 0.2 * (attempt + 1))):
        token.raise_if_cancelled(f"download of {name}")


def _fetch_into(part: PartInfo, partial: Path, have: int, progress: Progress | None, base_done: int,
                total: int, cancel: CancelToken | None, timeout: float) -> None:
    """One HTTP request: append to ``partial`` from byte ``have`` (or restart if Range is ignored)."""
    headers = {"Range": f"bytes={have}-"} if have else {}
    with urllib.request.urlopen(_request(part.url, headers), timeout=timeout) as resp:
        mode = "ab"
        if have and resp.status == 206:
            match = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != have:
                partial.unlink(missing_ok=True)  # cannot trust the offset: the retry starts from zero
                raise ConnectionError(f"server resumed at the wrong offset for {part.name}")
        elif have:
            mode, have = "wb", 0  # the server ignored Range: start this part again
        done = have
        with open(partial, mode) as out:
            while True:
                if cancel:
                    cancel.raise_if_cancelled(f"download of {part.name}")
                chunk = resp.read(min(CHUNK, max(part.size - done, 0) + 1))
                if not chunk:
                    break
                out.write(chunk)
                done += len(chunk)
                if done > part.size:
                    raise ImportArchiveError(
                        f"download of {part.name}: server sent more than the {part.size} bytes the record lists")
                if progress:
                    progress(base_done + done, total, part.name)
    if done < part.size:
        raise ConnectionError(f"connection closed after {done} of {part.size} bytes")


def md5_of_file(path: Path, progress: Progress | None = None, base_done: int = 0, grand_total: int = 0,
                cancel: CancelToken | None = None) -> str:
    """Hex MD5 of a file, read in chunks, with progress and cancel between chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    done = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            if cancel:
                cancel.raise_if_cancelled(f"verification of {path.name}")
            digest.update(chunk)
            done += len(chunk)
            if progress:
                progress(base_done + done, grand_total, f"verifying {path.name}")
    return digest.hexdigest()


def _request(url: str, headers: dict[str, str] | None = None) -> urllib.request.Request:
    return urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **(headers or {})})


def _require_http(url: str) -> None:
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise ImportArchiveError(f"refusing to download from {url!r}: only http(s) addresses are allowed")


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    return str(reason).replace("\n", " ") or type(exc).__name__
