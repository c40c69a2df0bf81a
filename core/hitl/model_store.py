"""The model library across projects: every Train on my labels model is also kept in the user-data
folder, so a new project of the same modality can warm-start from an earlier project's model.

A model's modality is the project's ``extra["modality"]`` when the user set one, else a guess from the
first image and the classes: ``panoramic`` (width >= 1.6 x height) or the image size (``256x256``),
plus the class names (``256x256:thyroid``) — strict on purpose: an EM-membrane model is never offered
to an ultrasound project because both are binary. The newest KEEP models per modality are kept.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path
from typing import Any

from core.data.project import ModelEntry, Project, user_data_dir
from core.data.sample import SampleIndex

LIBRARY = "model-library"
KEEP = 20
PREFIX = "library:"


def library_dir() -> Path:
    return user_data_dir() / LIBRARY


def _image_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the file header when PIL can read it, else from the decoded image."""
    try:
        from PIL import Image

        with Image.open(path) as im:
            return im.size
    except Exception:
        try:
            from core.data.io import read_image

            img = read_image(path)
            return int(img.shape[1]), int(img.shape[0])
        except Exception:
            return None


def modality(project: Project, index: SampleIndex) -> str:
    """The project's modality key (see the module docstring); the guess is remembered in the project
    (``extra["modality_auto"]``, saved with it) so registering a model needs no image."""
    given = str(project.extra.get("modality", "")).strip()
    if given:
        return given
    first = next(iter(index), None)
    size = _image_size(first.image) if first is not None else None
    kind = "unknown" if size is None else "panoramic" if size[0] >= 1.6 * size[1] else f"{size[0]}x{size[1]}"
    names = "+".join(sorted(c.name.lower() for c in project.classes)) or "foreground"
    key = f"{kind}:{names}"
    if size is not None:
        project.extra["modality_auto"] = key
    return key


def stored_modality(project: Project) -> str:
    """The modality the user set, else the remembered guess, else ""."""
    return str(project.extra.get("modality") or project.extra.get("modality_auto") or "").strip()


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", text)[:80]


def publish(project: Project, entry: ModelEntry, key: str) -> Path | None:
    """Copy a supervised model's checkpoint (+ sidecar) into the library under ``key``; returns its
    folder, or None for models the library does not take (pretraining, no checkpoint)."""
    from core.hitl.model_files import model_path

    ckpt = model_path(project, entry)
    if entry.mode.startswith("pretrain") or ckpt is None or not ckpt.exists() or not ckpt.with_suffix(".json").exists():
        return None    # the library keeps sidecar checkpoints (not a numbered-teeth .pt snapshot)
    folder = library_dir() / _slug(key) / _slug(f"{project.root.name}-{entry.name}")
    tmp = folder.with_name(folder.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    shutil.copy2(ckpt, tmp / "best.safetensors")
    shutil.copy2(ckpt.with_suffix(".json"), tmp / "best.json")
    info = {"name": entry.name, "mode": entry.mode, "modality": key, "source": str(project.root),
            "created": entry.created or time.strftime("%Y-%m-%dT%H:%M:%S"), "metrics": entry.metrics,
            "fingerprint": entry.fingerprint}
    (tmp / "entry.json").write_text(json.dumps(info, indent=1), encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)  # the folder appears complete or not at all
    _prune(folder.parent)
    return folder


def _prune(folder: Path) -> None:
    kept = sorted((p for p in folder.iterdir() if (p / "entry.json").exists()), key=lambda p: p.stat().st_mtime)
    for old in kept[:-KEEP]:
        shutil.rmtree(old, ignore_errors=True)


def entries(key: str, exclude_root: Path | None = None) -> list[ModelEntry]:
    """Library models of modality ``key``, newest first, as project entries with absolute paths
    (models trained in ``exclude_root`` itself are left out: the project has its own)."""
    folder = library_dir() / _slug(key)
    out: list[tuple[float, ModelEntry]] = []
    if not folder.is_dir():
        return []
    for d in folder.iterdir():
        try:
            info: dict[str, Any] = json.loads((d / "entry.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # half-written or foreign: not offered
        if exclude_root is not None and Path(info.get("source", "")) == Path(exclude_root):
            continue
        if not (d / "best.json").exists():
            continue
        name = f"{PREFIX} {Path(info.get('source', '?')).name}/{info.get('name', d.name)}"
        out.append((d.stat().st_mtime, ModelEntry(name=name, path=str(d / "best.safetensors"), mode=info.get("mode", ""),
                                                  created=info.get("created", ""), metrics=info.get("metrics", {}),
                                                  fingerprint=info.get("fingerprint", ""),
                                                  extra={"library": str(d), "modality": key})))
    return [e for _, e in sorted(out, key=lambda x: -x[0])]
