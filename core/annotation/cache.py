"""A byte-bounded LRU of decoded images and masks, filled ahead of time by a background thread.

Switching to the next image should cost a dictionary lookup, not a 30 ms JPEG decode; browsing
hundreds of images must not grow memory without bound.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np


def _size(value: Any) -> int:
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, tuple):
        return sum(_size(v) for v in value)
    return 64


class LruCache:
    """Thread-safe LRU keyed by sample id, bounded by ``max_bytes``."""

    def __init__(self, max_bytes: int = 256 * 1024 * 1024, workers: int = 1):
        self.max_bytes = int(max_bytes)
        self._items: OrderedDict[str, Any] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="prefetch")
        self._pending: dict[str, Future] = {}

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)

    def put(self, key: str, value: Any) -> None:
        with self._lock:
            if key in self._items:
                self._bytes -= _size(self._items.pop(key))
            self._items[key] = value
            self._bytes += _size(value)
            while self._bytes > self.max_bytes and len(self._items) > 1:
                _, old = self._items.popitem(last=False)
                self._bytes -= _size(old)

    def peek(self, key: str) -> Any | None:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        return None

    def get(self, key: str, load: Callable[[], Any]) -> Any:
        """The cached value, else the prefetch in flight, else ``load()`` on this thread."""
        value = self.peek(key)
        if value is not None:
            return value
        future = self._pending.get(key)
        if future is not None:
            try:
                future.result()
            except Exception:  # the prefetch failed: load again here so the error reaches the caller
                pass
            value = self.peek(key)
            if value is not None:
                return value
        value = load()
        self.put(key, value)
        return value

    def prefetch(self, key: str, load: Callable[[], Any]) -> None:
        """Load ``key`` in the background unless it is cached or already coming."""
        with self._lock:
            if key in self._items or (key in self._pending and not self._pending[key].done()):
                return

        def job() -> None:
            self.put(key, load())

        self._pending[key] = self._pool.submit(job)

    def discard(self, key: str) -> None:
        with self._lock:
            if key in self._items:
                self._bytes -= _size(self._items.pop(key))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
