"""The class table a project works with: saved by the user, else guessed from its masks."""

from __future__ import annotations

from core.data.classes import ClassDef
from core.data.masks import infer_classes
from core.data.project import Project
from core.data.sample import SampleIndex


def effective_classes(project: Project, index: SampleIndex) -> list[ClassDef]:
    if project.path.exists() or project.extra.get("classes_set"):
        return project.classes
    return infer_classes(s for s in index if s.has_mask)
