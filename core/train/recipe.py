"""Training recipes: every job is described by one JSON-able dataclass, never by a subclass.

Defaults per mode live in ``core/train/recipes/<mode>.json`` (shipped as package data); a recipe file
or CLI flags override them. The recipe is stored in every checkpoint's metadata so a run can be
reproduced and resumed exactly.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

from core.errors import ToothSegError
from core.models.metadata_schema import check_model_config

MODES = ("pretrain-mim", "pretrain-recon", "finetune", "mean-teacher", "pseudo-label")


@dataclass
class Recipe:
    mode: str = "finetune"
    model: dict[str, Any] = field(default_factory=lambda: {"name": "unet", "base_channels": 16,
                                                           "norm": "batch"})
    size: int = 256                     # training input height, and width unless ``width`` is set
    width: int = 0                      # training input width; 0 = square (2:1 keeps a panoramic's aspect)
    labels: str = "binary"              # binary (any non-zero label) | multiclass (one channel per class)
    epochs: int = 100
    max_steps: int = 0                  # 0 = no limit (tests and benchmarks use it)
    max_minutes: float = 0.0            # 0 = no budget
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-4
    schedule: str = "plateau"           # plateau (ReduceLROnPlateau on the monitor) | cosine (over the budget)
    plateau_factor: float = 0.5
    plateau_patience: int = 10
    min_lr: float = 1e-6
    early_stop_patience: int = 25       # epochs without improvement of the monitored metric; 0 = off
    seed: int = 0
    split_seed: int = 0
    split_ratios: list[float] = field(default_factory=lambda: [0.8, 0.1, 0.1])
    augment: bool = True
    crop: int = 0                       # > 0: foreground-aware random crops of this size
    zoom: float = 0.0                   # > 0: random zoom by up to ± this fraction, shift up to half of it
    bilateral: bool = False             # the ToothSeg seed's bilateral-filter preprocessing
    labels_fraction: float = 1.0        # seeded subset of the training labels
    init: str = ""                      # checkpoint to initialise from (pretrained or supervised)
    weight_ema: float = 0.0             # finetune: > 0 saves the running average of the weights (decay)
    # masked image modelling
    num_blocks: int = 8
    block_min: float = 0.1
    block_max: float = 0.3
    mask_ratio: float = 0.0             # > 0: add blocks until this fraction of pixels is masked
    # reconstruction pretraining
    noise_std: float = 0.1
    blur_prob: float = 0.5
    jitter: float = 0.2
    # mean teacher
    ema_alpha: float = 0.99
    consistency_weight: float = 1.0
    rampup_epochs: int = 5
    freeze_blocks: int = 0              # freeze this many early encoder stages of the student
    unlabeled_batch_size: int = 8
    # pseudo-labelling
    threshold: float = 0.5
    band: list[float] = field(default_factory=list)  # [top, bottom] as fractions of the height
    min_area_frac: float = 0.001
    label_value: int = 255              # value written into pseudo masks (255, or 1 for label maps)
    # infrastructure
    amp: bool = True                    # mixed precision on CUDA only
    device: str = "auto"
    tensorboard: bool = False
    preview_every: int = 1              # epochs between preview images (0 = never)
    threads: int = 0                    # torch intra-op threads (0 = leave torch's default)
    speed: str = "auto"                 # auto (measured once per machine, core.train.speed) | fp32 | bf16+channels_last ...
    speed: str = "auto"                 # auto (measured once per machine, core.train.speed) | fp32 | bf16+channels_last ...

    @property
    def input_hw(self) -> tuple[int, int]:
        """(height, width) every image is resized to for training and inference."""
        return self.size, self.width or self.size

    @property
    def size_text(self) -> str:
        """'256px' or, when not square, 'WIDTHxHEIGHTpx'."""
        h, w = self.input_hw
        return f"{h}px" if h == w else f"{w}x{h}px"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Recipe:
        if not isinstance(data, dict):
            raise ToothSegError(f"a recipe must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ToothSegError(f"unknown recipe keys: {', '.join(unknown)}")
        _check_types(data)
        recipe = cls(**{k: v for k, v in data.items()})
        recipe.validate()
        return recipe

    def updated(self, **changes: Any) -> Recipe:
        """A copy with ``changes`` applied (None values are ignored, as argparse leaves them)."""
        data = self.to_json()
        data.update({k: v for k, v in changes.items() if v is not None})
        return Recipe.from_json(data)

    def validate(self) -> None:
        if self.mode not in MODES:
            raise ToothSegError(f"unknown training mode {self.mode!r}; expected one of {', '.join(MODES)}")
        if self.labels not in ("binary", "multiclass"):
            raise ToothSegError(f"labels must be 'binary' or 'multiclass', not {self.labels!r}")
        if self.size < 16 or self.batch_size < 1 or self.epochs < 1 or (self.width and self.width < 16):
            raise ToothSegError("size (and width, unless 0) must be >= 16, batch_size >= 1 and epochs >= 1")
        if not 0 < self.labels_fraction <= 1:
            raise ToothSegError(f"labels_fraction must lie in (0, 1], got {self.labels_fraction}")
        if not 0 < self.block_min <= self.block_max < 1:
            raise ToothSegError("block fractions must satisfy 0 < block_min <= block_max < 1")
        if not 0 <= self.mask_ratio < 1:
            raise ToothSegError(f"mask_ratio must lie in [0, 1), got {self.mask_ratio}")
        if self.band and (len(self.band) != 2 or not 0 <= self.band[0] < self.band[1] <= 1):
            raise ToothSegError(f"band must be two fractions 0 <= top < bottom <= 1, got {self.band}")
        if self.schedule not in ("plateau", "cosine"):
            raise ToothSegError(f"schedule must be 'plateau' or 'cosine', not {self.schedule!r}")
        if not 0 <= self.zoom < 0.5:
            raise ToothSegError(f"zoom must lie in [0, 0.5), got {self.zoom}")
        if not 0 <= self.weight_ema < 1 or not 0 < self.ema_alpha < 1:
            raise ToothSegError("weight_ema must lie in [0, 1) and ema_alpha in (0, 1)")
        if self.speed != "auto":
            from core.train.speed import option

            option(self.speed)  # raises on an unknown name
        if self.speed != "auto":
            from core.train.speed import option

            option(self.speed)  # raises on an unknown name
        if not isinstance(self.model, dict) or "name" not in self.model:
            raise ToothSegError("recipe 'model' must be a dict with a 'name'")
        check_model_config(self.model, "recipe", "model")


def _check_types(data: dict[str, Any]) -> None:
    """Each value has its field's type (an int is fine where a float is expected), so a stored or
    hand-written recipe with ``"size": "abc"`` gets one clear line instead of a TypeError later."""
    defaults = Recipe()
    for key, value in data.items():
        want = type(getattr(defaults, key))
        ok = (isinstance(value, bool) if want is bool
              else isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
              if want is float
              else isinstance(value, want) and not isinstance(value, bool) if want is int
              else isinstance(value, want))
        if not ok:
            raise ToothSegError(f"recipe {key} must be {_TYPE_NAMES[want]}, got {value!r:.40}")


_TYPE_NAMES = {bool: "true or false", int: "a whole number", float: "a finite number", str: "text",
               list: "a list", dict: "an object"}


def default_recipe(mode: str) -> Recipe:
    """The shipped defaults for ``mode`` (``core/train/recipes/<mode>.json``)."""
    if mode not in MODES:
        raise ToothSegError(f"unknown training mode {mode!r}; expected one of {', '.join(MODES)}")
    text = resources.files("core.train").joinpath("recipes", f"{mode}.json").read_text(encoding="utf-8")
    data = json.loads(text)
    data["mode"] = mode
    return Recipe.from_json(data)


def load_recipe(path: str | Path, mode: str | None = None) -> Recipe:
    """A recipe file on top of the mode's defaults (the file may hold only the keys it changes)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ToothSegError(f"cannot read recipe {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ToothSegError(f"recipe {path} must hold a JSON object")
    base = default_recipe(mode or data.get("mode", "finetune"))
    merged = base.to_json()
    merged.update(data)
    if mode:
        merged["mode"] = mode
    return Recipe.from_json(merged)
