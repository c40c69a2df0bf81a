"""Keeping libjpeg / libpng warnings off the user's terminal while OpenCV decodes a file.

The C libraries under ``cv2.imdecode`` print "Corrupt JPEG data: ..." or "libpng error: ..." straight
to file descriptor 2, beside the one-line message the user should see (or on a file that decodes
anyway). While a decode runs, fd 2 points at a temporary file; afterwards every line that is not
one of those library warnings is written back to the real stderr, so nothing else printed meanwhile
(by another thread, say) is lost. Windows and stderr-less GUI processes without a usable fd 2 just
decode unchanged. Nested and concurrent decodes share one redirection (a counted, locked window).
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager

LIBRARY_NOISE = (b"Corrupt JPEG data", b"Premature end of JPEG file", b"libpng warning", b"libpng error",
                 b"Invalid SOS parameters", b"Bogus marker length")

_lock = threading.Lock()
_depth = 0
_saved: int | None = None
_capture = None


@contextmanager
def quiet_c_stderr() -> Iterator[None]:
    global _depth
    with _lock:
        if _depth == 0 and not _redirect():
            entered = False
        else:
            _depth += 1
            entered = True
    try:
        yield
    finally:
        if entered:
            with _lock:
                _depth -= 1
                if _depth == 0:
                    _restore()


def _redirect() -> bool:
    global _saved, _capture
    try:
        if sys.stderr is not None:
            sys.stderr.flush()
        capture = tempfile.TemporaryFile()
        saved = os.dup(2)
        os.dup2(capture.fileno(), 2)
    except (OSError, ValueError, AttributeError):
        return False
    _saved, _capture = saved, capture
    return True


def _restore() -> None:
    global _saved, _capture
    try:
        if sys.stderr is not None:
            sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os.dup2(_saved, 2)
    os.close(_saved)
    _capture.seek(0)
    kept = [line for line in _capture.read().splitlines(keepends=True) if not line.startswith(LIBRARY_NOISE)]
    _capture.close()
    _saved = _capture = None
    if kept:
        try:
            os.write(2, b"".join(kept))
        except OSError:
            pass
