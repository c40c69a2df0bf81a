"""Finding the LiteMedSAM ONNX pair: bundled with the app, or converted once into the user-data folder.

Order: the project's own ``litemedsam/`` folder (a decoder fine-tuned on its labels by Train on my labels
or ``toothseg prompt-finetune``; kept only when it beat the shipped one on held-out labels), when a dataset
folder is given; ``TOOTHSEG_PROMPT_MODEL_DIR``; the bundle's ``litemedsam/`` folder (frozen builds, converted by
packaging/build.py); ``<user data>/litemedsam/<checkpoint sha>/``. If none holds a valid pair and PyTorch
and the packaged checkpoint are present, the pair is converted there on first use. Every file is checked
against the manifest's SHA-256, so a corrupt file disables the box tool with a clear message.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

from core.errors import ModelFileError
from core.prompt import weights

FORMAT = "toothseg-litemedsam-onnx/1"
ENCODER_FILE, DECODER_FILE, MANIFEST_FILE = "encoder.onnx", "decoder.onnx", "manifest.json"
BUNDLE_FOLDER = "litemedsam"


def cache_dir() -> Path:
    from core.data.project import user_data_dir

    return user_data_dir() / BUNDLE_FOLDER / weights.CHECKPOINT_SHA256[:16]


def project_folder(root: Path) -> Path:
    """Where a dataset folder's fine-tuned pair lives (beside its project file)."""
    from core.data.project import project_dir_for

    return project_dir_for(root) / BUNDLE_FOLDER


def candidates(root: Path | None = None) -> list[Path]:
    found = [project_folder(root)] if root is not None else []
    if os.environ.get("TOOTHSEG_PROMPT_MODEL_DIR"):
        found.append(Path(os.environ["TOOTHSEG_PROMPT_MODEL_DIR"]))
    if getattr(sys, "frozen", False):
        found.append(Path(getattr(sys, "_MEIPASS", Path(sys.executable).parent)) / BUNDLE_FOLDER)
    found.append(cache_dir())
    return found


def check_dir(folder: Path) -> dict:
    """The manifest of a complete, intact model folder, else ModelFileError naming what is wrong."""
    folder = Path(folder)
    try:
        manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"LiteMedSAM model folder {folder} has no readable manifest ({exc})") from exc
    if manifest.get("format") != FORMAT:
        raise ModelFileError(f"LiteMedSAM model folder {folder}: unknown format {manifest.get('format')!r}")
    for name, key in ((ENCODER_FILE, "encoder_sha256"), (DECODER_FILE, "decoder_sha256")):
        path = folder / name
        if not path.is_file():
            raise ModelFileError(f"LiteMedSAM {name} missing from {folder} (box tool off)")
        if hashlib.sha256(path.read_bytes()).hexdigest() != manifest.get(key):
            raise ModelFileError(f"LiteMedSAM {path} fails its SHA-256 check (corrupt; box tool off)")
    return manifest


def locate(convert_if_missing: bool = True, root: Path | None = None) -> tuple[Path, dict]:
    """(folder, manifest) of a usable ONNX pair (``root``: a dataset folder whose tuned pair comes first);
    converts into the user-data folder when it can. When the project's own pair is present but broken,
    the shipped pair is used and the manifest's ``fallback`` says why in one line (the box tool and the
    CLI show it)."""
    problems = []
    own = project_folder(root) if root is not None else None
    fallback = ""
    for folder in candidates(root):
        if not (folder / MANIFEST_FILE).exists():
            continue
        try:
            manifest = check_dir(folder)
        except ModelFileError as exc:
            problems.append(str(exc))
            if folder == own:
                fallback = f"{exc}; using the shipped decoder instead (Train on my labels tunes it again)"
            continue
        return folder, dict(manifest, fallback=fallback) if fallback else manifest
    if convert_if_missing:
        try:
            import torch  # noqa: F401
        except ImportError:
            problems.append("this build has no PyTorch to convert the LiteMedSAM checkpoint")
        else:
            from core.prompt.convert import convert

            folder = convert(cache_dir())
            manifest = check_dir(folder)
            return folder, dict(manifest, fallback=fallback) if fallback else manifest
    raise ModelFileError(problems[0] if problems else "LiteMedSAM ONNX models not found (box tool off); "
                         f"install the weights ({weights.INSTALL_HINT}) in a build with PyTorch")


def project_stamp(root: Path | None) -> tuple | None:
    """Changes whenever the project's tuned pair is written, replaced or removed (the box tool reloads)."""
    if root is None:
        return None
    stamp = []
    for name in (MANIFEST_FILE, DECODER_FILE):
        try:
            st = (project_folder(root) / name).stat()
        except OSError:
            stamp.append(None)
        else:
            stamp.append((st.st_mtime_ns, st.st_size))
    return tuple(stamp)
