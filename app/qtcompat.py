"""Work around a PySide6 6.12.0 refcount bug: ``SignalInstance.emit()`` returns ``True`` without a
reference, so every emit from Python (ours and pyqtgraph's) takes one reference from ``True``.

On Python < 3.12, where ``True`` is not immortal, a long session then dies with "Fatal Python error:
bool_dealloc". We detect the bug with one probe emit and, only if present, give ``True`` and ``False``
a huge reference count (what Python 3.12 does for them anyway).
"""

from __future__ import annotations

import ctypes
import sys

from PySide6 import QtCore

_APPLIED = False


class _Probe(QtCore.QObject):
    ping = QtCore.Signal()


def emit_leaks_true() -> bool:
    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(8):
        probe.ping.emit()
    return sys.getrefcount(True) < before


def apply() -> bool:
    """Apply the workaround once when needed; returns True when it was applied."""
    global _APPLIED
    if _APPLIED or sys.version_info >= (3, 12) or not emit_leaks_true():
        return _APPLIED
    for obj in (True, False):
        ctypes.c_ssize_t.from_address(id(obj)).value += 1 << 40
    _APPLIED = True
    return True
