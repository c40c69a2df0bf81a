"""PyInstaller runtime hook: runs inside the frozen app before any of our code.

Windows looks for a DLL's dependencies only in a few folders; ONNX Runtime (and torch) keep theirs
beside their .pyd files, so those folders are added with ``os.add_dll_directory`` (the PATH variable
is no longer searched for them since Python 3.8). Albumentations would otherwise check PyPI for a
newer version at import; a clinic PC must never phone home.
"""

import os
import sys

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

_base = getattr(sys, "_MEIPASS", None)
if sys.platform == "win32" and _base and hasattr(os, "add_dll_directory"):
    _handles = []  # keep the handles alive: closing one removes its folder from the search again
    for _sub in ("onnxruntime/capi", "torch/lib", "PySide6", "cv2", ""):
        _folder = os.path.join(_base, *_sub.split("/")) if _sub else _base
        if os.path.isdir(_folder):
            _handles.append(os.add_dll_directory(_folder))
    sys._toothseg_dll_handles = _handles
