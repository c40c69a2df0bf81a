"""One tiny numbered-teeth model trained by Train on my labels on real UFBA-425 panoramics, shared by
the core and app tests of the teeth branch (trained once per test session, about 10 CPU-s)."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.core.helpers import copy_pairs

# a network that finds (rough) numbered teeth after a few CPU seconds; the product's is 16 ch, depth 5
TINY_TEETH = {"base_channels": 8, "depth": 4, "crop": (128, 192), "batch_size": 2, "warmup_steps": 2, "lr": 5e-3}
MINUTES = 0.1
_TRAINED: dict[str, tuple] = {}


def trained_teeth(shared_data: Path, tmp: Path) -> tuple[Path, object, dict]:
    """(folder, registered entry, outcome) of ``train_on_labels`` on 6 FDI panoramics; the folder is
    the same for every caller of the session: copy it before writing into it."""
    if "run" not in _TRAINED:
        import torch

        from core.hitl.auto_train import train_on_labels
        from core.train.events import RecordingEvents

        root = tmp / "fdi6"
        copy_pairs(shared_data, "ufba425_teeth", 6, root)
        threads = torch.get_num_threads()
        events = RecordingEvents()
        entry, outcome = train_on_labels(root, minutes=MINUTES, seed=0, teeth=dict(TINY_TEETH), events=events)
        torch.set_num_threads(threads)
        outcome["events"] = events
        _TRAINED["run"] = (root, entry, outcome)
    return _TRAINED["run"]


def copy_trained(shared_data: Path, tmp: Path, dest: Path) -> Path:
    """A private copy of the trained folder (project, masks and model), for tests that open or edit it."""
    root, _, _ = trained_teeth(shared_data, tmp)
    shutil.copytree(root, dest, ignore=shutil.ignore_patterns("*.lock", ".toothseg-lock*"))
    return dest
