"""The project file: one versioned JSON per dataset folder.

It holds what the user decided about the folder: classes, splits, per-sample review status,
registered models, and where edited masks go. It lives in ``<folder>/.toothseg/project.json``, or in
the user-data directory when the folder is read-only. A corrupt file is never overwritten silently:
loading raises ProjectFileError, and ``Project.recover`` keeps the bad file aside as a backup.
Saving is a read-modify-write under a short file lock (``core.data.file_lock``): the file on disk
is merged with this process's changes (``core.data.project_merge``), so the app, the CLI and a
training run never lose each other's splits, classes or models (ADR 0009).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.data.atomic import atomic_write_json
from core.data.classes import ClassDef, binary_classes
from core.data.file_lock import locked
from core.data.project_merge import merge_project
from core.data.project_schema import validate_project
from core.data.sample import SPLITS, STATUSES, SampleIndex
from core.errors import NotWritableError, ProjectFileError

FORMAT = "toothseg-project"
VERSION = 1
PROJECT_DIRNAME = ".toothseg"


def user_data_dir() -> Path:
    """Per-user data folder (TOOTHSEG_USER_DATA overrides it, which tests use)."""
    override = os.environ.get("TOOTHSEG_USER_DATA")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_data_dir("ToothSeg Studio", "ToothSeg"))


def user_data_project_dir(root: Path) -> Path:
    root = Path(root).resolve()
    digest = hashlib.sha1(str(root).encode("utf-8")).hexdigest()[:12]
    return user_data_dir() / "projects" / f"{root.name}-{digest}"


def project_dir_for(root: Path) -> Path:
    """Where the project of ``root`` lives: an existing one wins; new ones go inside when writable.

    Nothing is written to decide this; ``Project.save`` falls back to user data if writing fails.
    """
    root = Path(root).resolve()
    inside = root / PROJECT_DIRNAME
    if (inside / "project.json").exists():
        return inside
    outside = user_data_project_dir(root)
    if (outside / "project.json").exists():
        return outside
    return inside if os.access(root, os.W_OK) else outside


@dataclass
class ModelEntry:
    """A trained model registered in the project (paths relative to the project dir when inside it)."""

    name: str
    path: str
    mode: str
    created: str
    metrics: dict[str, Any] = field(default_factory=dict)
    onnx: str = ""
    fingerprint: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Project:
    root: Path
    dir: Path
    classes: list[ClassDef] = field(default_factory=binary_classes)
    splits: dict[str, str] = field(default_factory=dict)
    status: dict[str, str] = field(default_factory=dict)
    models: list[ModelEntry] = field(default_factory=list)
    active_model: str = ""
    split_seed: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    base: dict[str, Any] | None = field(default=None, repr=False, compare=False)  # the file as last read/written

    @property
    def path(self) -> Path:
        return self.dir / "project.json"

    @property
    def mask_dir(self) -> Path:
        """Where masks drawn for images without one are written (inside the project dir)."""
        return self.dir / "masks"

    @property
    def in_user_data(self) -> bool:
        return self.dir.parent != self.root

    # ------------------------------------------------------------------ load / save
    @classmethod
    def open(cls, root: str | Path) -> Project:
        """Load the project of ``root``, or start a fresh one in memory (nothing is written yet)."""
        root = Path(root).resolve()
        pdir = project_dir_for(root)
        project = _read(root, pdir)
        return project if project is not None else cls(root=root, dir=pdir)

    @classmethod
    def _from_json(cls, root: Path, pdir: Path, data: Any, path: Path) -> Project:
        validate_project(data, path, FORMAT, VERSION)
        try:
            project = cls(
                root=root, dir=pdir,
                classes=[ClassDef.from_json(c) for c in data.get("classes", [])] or binary_classes(),
                splits={str(k): str(v) for k, v in data.get("splits", {}).items()},
                status={str(k): str(v) for k, v in data.get("status", {}).items()},
                models=[ModelEntry(**m) for m in data.get("models", [])],
                active_model=str(data.get("active_model", "")),
                split_seed=data.get("split_seed"),
                extra=dict(data.get("extra", {})),
            )
        except (TypeError, KeyError, ValueError) as exc:
            raise ProjectFileError(f"{path} has invalid content ({exc})") from exc
        project.base = project.to_json()
        return project

    def to_json(self) -> dict[str, Any]:
        """The file's content (a fresh copy: editing it leaves the project unchanged)."""
        return _plain(self._json())

    def _json(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "version": VERSION, "saved": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "classes": [c.to_json() for c in self.classes],
            "splits": self.splits, "split_seed": self.split_seed, "status": self.status,
            "models": [m.__dict__ for m in self.models], "active_model": self.active_model,
            "extra": self.extra,
        }

    def save(self) -> Path:
        """Atomic merge-save; a read-only dataset folder (not a full disk) moves the project to user data."""
        try:
            return self._merge_save()
        except NotWritableError:
            if self.in_user_data:
                raise
            self.dir = user_data_project_dir(self.root)
            return self._merge_save()

    def _merge_save(self) -> Path:
        """Under the file lock: re-read the file, keep others' changes and ours, write, adopt the result."""
        with locked(self.path):
            disk = _read(self.root, self.dir)
            data = self.to_json()
            if disk is not None:
                base = self.base if self.base is not None else Project(self.root, self.dir).to_json()
                data = merge_project(_plain(base), _plain(data), _plain(disk.to_json()))
                data["saved"] = time.strftime("%Y-%m-%dT%H:%M:%S")
            path = atomic_write_json(self.path, data)
            merged = Project._from_json(self.root, self.dir, data, path)
        self._adopt(merged)
        return path

    def _adopt(self, merged: Project) -> None:
        """Take the merged values, keeping this object's own containers where nothing changed (the GUI
        holds references to them)."""
        if [c.to_json() for c in merged.classes] != [c.to_json() for c in self.classes]:
            self.classes = merged.classes
        for name in ("splits", "status", "extra"):
            mine, theirs = getattr(self, name), getattr(merged, name)
            if mine != theirs:
                mine.clear()
                mine.update(theirs)
        if [m.__dict__ for m in merged.models] != [m.__dict__ for m in self.models]:
            self.models = merged.models
        self.active_model, self.split_seed, self.base = merged.active_model, merged.split_seed, merged.base

    @classmethod
    def recover(cls, root: str | Path) -> tuple[Project, Path | None]:
        """Keep a corrupt project file aside (``project.json.corrupt-<time>``) and start a new one."""
        root = Path(root).resolve()
        pdir = project_dir_for(root)
        path = pdir / "project.json"
        backup = None
        if path.exists():
            backup = path.with_name(f"project.json.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
            os.replace(path, backup)
        project = cls(root=root, dir=pdir)
        project.save()
        return project, backup

    # ------------------------------------------------------------------ state
    def set_status(self, sample_id: str, status: str) -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}; expected one of {STATUSES}")
        self.status[sample_id] = status

    def set_split(self, sample_id: str, split: str) -> None:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
        self.splits[sample_id] = split

    def apply(self, index: SampleIndex) -> SampleIndex:
        """Overlay the project's splits, statuses and drawn masks onto a freshly built index."""
        for s in index:
            if s.id in self.splits:
                s.split = self.splits[s.id]
            drawn = self.drawn_mask_path(s.id)
            if drawn.exists():  # an edit saved aside (read-only folder, COCO, new mask) wins
                if s.mask is None:
                    s.status = "labeled"
                s.meta.pop("coco_image_id", None)
                s.mask = drawn
                s.meta["drawn"] = True
            if s.id in self.status:
                s.status = self.status[s.id]
        return index

    def drawn_mask_path(self, sample_id: str) -> Path:
        """PNG path for a mask drawn on an image that came without one."""
        safe = sample_id.replace("\\", "/").replace("/", "__")
        return self.mask_dir / f"{safe}.png"

    def add_model(self, entry: ModelEntry, make_active: bool = False) -> None:
        self.models = [m for m in self.models if m.name != entry.name] + [entry]
        if make_active:
            self.active_model = entry.name

    def model(self, name: str) -> ModelEntry | None:
        return next((m for m in self.models if m.name == name), None)


def _read(root: Path, pdir: Path) -> Project | None:
    """The project stored in ``pdir``, None when there is no file; a corrupt one raises ProjectFileError."""
    path = pdir / "project.json"
    if not path.exists():
        if os.path.lexists(path):  # a link that loops or leads nowhere: not ours to replace
            raise ProjectFileError(f"Project file {path} is a symbolic link that cannot be followed (a loop or "
                                   "a missing target); it was left untouched: fix or remove it")
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ProjectFileError(
            f"Project file {path} is corrupt ({str(exc)[:120]}). It was left untouched; "
            "open the folder again and choose 'start a new project' to keep it aside as a backup."
        ) from exc
    return Project._from_json(root, pdir, data, path)


def _plain(obj: Any) -> Any:
    """A deep copy made of JSON types only (what the file would hold)."""
    return json.loads(json.dumps(obj))
