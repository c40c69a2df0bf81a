"""What every long job shares: a cancel token and a progress callback type.

Core code reports progress through plain callbacks and checks the token; the GUI adapts both to
Qt signals in a worker thread, the CLI to tqdm. Nothing here knows about either.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from core.errors import CancelledError

# progress(done, total, message): total may be 0 when unknown.
Progress = Callable[[int, int, str], None]


def no_progress(done: int, total: int, message: str = "") -> None:
    """A progress callback that ignores everything."""


class CancelToken:
    """Thread-safe cancel flag; jobs call ``raise_if_cancelled()`` at least once per step."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self, what: str = "job") -> None:
        if self._event.is_set():
            raise CancelledError(f"{what} cancelled")

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``, waking early on cancel; returns True when cancelled."""
        return self._event.wait(seconds)
