"""ToothSeg Studio desktop GUI (PySide6 + pyqtgraph): composes core objects, never computes itself."""
