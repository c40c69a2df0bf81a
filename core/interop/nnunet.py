"""nnU-Net v2 hand-off: write the raw dataset layout, and read its predictions back as masks.

A team that outgrows a laptop trains nnU-Net on a GPU server; the case-id -> sample-id table
written beside dataset.json lets the predictions come back to the right images.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from core.data.atomic import atomic_write_bytes, atomic_write_json
from core.data.io import read_image, read_mask, to_uint8, write_mask
from core.data.masks import load_mask
from core.data.project import Project
from core.data.project_classes import effective_classes
from core.data.sample import SampleIndex
from core.errors import ToothSegError
from core.jobs import CancelToken, Progress

CASES_FILE = "toothseg_cases.json"
_NAME = re.compile(r"^Dataset(\d{3})_([A-Za-z0-9_-]+)$")


def export_nnunet(index: SampleIndex, project: Project, out: Path, channel_name: str = "X-ray",
                  progress: Progress | None = None, cancel: CancelToken | None = None) -> dict[str, Any]:
    """Write ``nnUNet_raw/DatasetNNN_Name``: imagesTr (``_0000``), labelsTr, imagesTs, dataset.json."""
    out = Path(out)
    if not _NAME.match(out.name):
        raise ToothSegError(f"{out.name}: nnU-Net dataset folders are named DatasetNNN_Name (e.g. Dataset501_Teeth)")
    if out.exists() and any(out.iterdir()):
        raise ToothSegError(f"{out} already exists and is not empty; choose a new DatasetNNN_Name")
    prefix = _NAME.match(out.name).group(2)
    classes = effective_classes(project, index)
    values = [c.value for c in classes]
    lut = np.zeros(256, np.uint8)
    for k, v in enumerate(values, start=1):
        lut[v] = k
    cases: dict[str, str] = {}
    samples = list(index)
    n_train = 0
    for k, s in enumerate(samples, start=1):
        if cancel:
            cancel.raise_if_cancelled("nnU-Net export")
        case = f"{prefix}_{k:04d}"
        cases[case] = s.id
        image = to_uint8(read_image(s.image))
        target = "imagesTr" if s.is_training_label else "imagesTs"
        atomic_write_bytes(out / target / f"{case}_0000.png", cv2.imencode(".png", image)[1].tobytes())
        if s.is_training_label:
            labels = load_mask(s, (image.shape[1], image.shape[0]))
            unknown = set(np.unique(labels).tolist()) - set(values) - {0}
            if unknown:
                raise ToothSegError(f"{s.id}: mask values {sorted(unknown)} are not project classes")
            write_mask(out / "labelsTr" / f"{case}.png", lut[labels])
            n_train += 1
        if progress:
            progress(k, len(samples), s.id)
    dataset = {"channel_names": {"0": channel_name}, "labels": {"background": 0, **{
        c.name: k for k, c in enumerate(classes, start=1)}}, "numTraining": n_train, "file_ending": ".png",
        "name": prefix, "description": f"Exported by ToothSeg Studio from {index.root}"}
    atomic_write_json(out / "dataset.json", dataset)
    atomic_write_json(out / CASES_FILE, {"cases": cases, "values": values})
    return {"out": str(out), "training": n_train, "test": len(samples) - n_train}


def import_nnunet_predictions(pred_dir: Path, export_dir: Path, index: SampleIndex, project: Project,
                              status: str = "pseudo") -> dict[str, Any]:
    """Bring nnU-Net predictions (``CASE.png``, contiguous labels) back as project masks."""
    import json

    table_path = Path(export_dir) / CASES_FILE
    try:
        table = json.loads(table_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ToothSegError(f"{table_path}: the export's case table is missing or corrupt ({exc})") from exc
    values = np.array([0, *table["values"]], np.uint8)
    written = 0
    for pred in sorted(Path(pred_dir).glob("*.png")):
        sample_id = table["cases"].get(pred.stem)
        if sample_id is None or sample_id not in index:
            continue
        contiguous = read_mask(pred)
        if contiguous.max() >= len(values):
            raise ToothSegError(f"{pred.name}: label {contiguous.max()} beyond the exported classes")
        write_mask(project.drawn_mask_path(sample_id), values[contiguous])
        project.set_status(sample_id, status)
        written += 1
    project.save()
    return {"imported": written}
