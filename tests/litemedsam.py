"""The LiteMedSAM ONNX pair for tests and benchmarks: converted once per machine into the temp folder
(about 40 s) and re-verified by SHA-256 on every use, so test sessions do not convert again."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest


def onnx_dir() -> Path:
    from core.errors import ModelFileError
    from core.prompt import weights
    from core.prompt.store import MANIFEST_FILE, check_dir

    folder = Path(tempfile.gettempdir()) / "toothseg-test-litemedsam" / weights.CHECKPOINT_SHA256[:16]
    try:
        if (folder / MANIFEST_FILE).exists():
            check_dir(folder)
            return folder
        from core.prompt.convert import convert

        return convert(folder)
    except ModelFileError as exc:
        pytest.fail(f"LiteMedSAM weights needed (scripts/setup.sh installs them): {exc}")
