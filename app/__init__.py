"""ToothSeg Studio desktop GUI (PySide6 + pyqtgraph): composes core objects, never computes itself."""

from app import qtcompat as _qtcompat

_qtcompat.apply()
