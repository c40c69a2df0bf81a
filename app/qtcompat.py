"""Work around PySide6 6.12.0 refcount bugs on Python < 3.12.

``SignalInstance.emit()`` returns ``True`` without a reference, and every Python override of a
``void`` virtual (``paint`` of a scene item or delegate, ...) gives back one reference too many to
``None``. Each emit or repaint takes one reference from these singletons, and after some minutes the
app dies with "Fatal Python error: bool_dealloc / none_dealloc". We detect the bug with probe emits
and, only if present, give ``None``, ``True`` and ``False`` a huge reference count - which is what
Python 3.12 does for them anyway (immortal objects).
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
    for obj in (None, True, False):
        ctypes.c_ssize_t.from_address(id(obj)).value += 1 << 40
    _APPLIED = True
    return True
