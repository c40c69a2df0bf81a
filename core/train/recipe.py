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
from core.models.metadata_schema import (
    DEFAULT_BASE_CHANNELS,
    DEFAULT_SIDE,
    MAX_SIDE,
    MIN_SIDE,
    check_model_config,
    check_size,
)
from core.train.fields import MODES, SUPERVISED, check_all, get_mode, knob
from core.train.views import VIEWS

__all__ = ["MODES", "Recipe", "default_recipe", "load_recipe"]


@dataclass
class Recipe:
    """Every field's help, range, CLI flag and form title is its ``knob`` (the one definition, fields.py)."""

    mode: str = "finetune"
    model: dict[str, Any] = field(default_factory=lambda: {"name": "unet", "base_channels": 16,
                                                           "norm": "batch"})
    size: int = knob(DEFAULT_SIDE, title="Input height (px)", lo=MIN_SIDE, hi=MAX_SIDE, step=32,
                     help="training input height (and width unless --width is given)")
    width: int = knob(0, title="Input width (px)", lo=0, hi=MAX_SIDE, step=32, off="square",
                      help="training input width; 0 = square (the height); 2:1 keeps a panoramic's shape")
    labels: str = knob("binary", choices={"binary": "Binary", "multiclass": "Multiclass"},
                       help="binary (any non-zero label) or multiclass (one channel per class)")
    epochs: int = knob(100, title="Epochs", lo=1, hi=100_000)
    max_steps: int = knob(0, lo=0, help="stop after this many steps; 0 = no limit (tests and benchmarks)")
    max_minutes: float = knob(0.0, title="Time budget (min)", lo=0, hi=10_080, decimals=1, off="no limit",
                              plan=True, help="time budget; the job stops cleanly when it is spent")
    cpu_budget: bool = knob(False, plan=True,
                            help="count the time budget in this process's CPU time, not wall time (a shared machine)")
    batch_size: int = knob(8, title="Batch size", lo=1, hi=4096)
    lr: float = knob(1e-3, title="Learning rate", lo=1e-6, hi=1.0, decimals=6, step=1e-4)
    weight_decay: float = knob(1e-4, lo=0)
    schedule: str = knob("plateau", title="LR schedule", choices={"plateau": "Plateau", "cosine": "Cosine"},
                         help="plateau: halve the rate when validation stalls; cosine: anneal it to the floor "
                              "over the epochs or the time budget")
    plateau_factor: float = knob(0.5, lo=0, hi=1, lo_open=True, hi_open=True, flag=None)
    plateau_patience: int = knob(10, lo=0, flag=None)
    min_lr: float = knob(1e-6, lo=0, flag=None)
    early_stop_patience: int = knob(25, lo=0, help="epochs without improvement of the monitored metric; 0 = off")
    seed: int = knob(0, plan=True)
    split_seed: int = knob(0, plan=True)
    split_ratios: list[float] = knob([0.8, 0.1, 0.1], flag=None)
    augment: bool = knob(True, flag="--no-augment", help="turn augmentation off")
    crop: int = knob(0, lo=0, help="foreground-aware random crops of this size")
    zoom: float = knob(0.0, title="Zoom augmentation", lo=0, hi=0.5, hi_open=True, decimals=2, step=0.05, off="off",
                       help="augmentation: zoom training images in or out by up to this fraction (e.g. 0.15) "
                            "and shift them by up to half of it")
    bilateral: bool = knob(False, help="the ToothSeg seed's bilateral-filter preprocessing")
    labels_fraction: float = knob(1.0, lo=0, hi=1, lo_open=True, modes=SUPERVISED,
                                  help="train on a seeded subset of the labels")
    init: str = knob("", modes=SUPERVISED, help="checkpoint to start from (pretrained or supervised)")
    label_smoothing: float = knob(0.0, title="Label smoothing", lo=0, hi=0.5, decimals=2, step=0.05, off="off",
                                  modes=SUPERVISED, help="soften the BCE / cross-entropy targets by this factor "
                                                         "(e.g. 0.1); the Dice term keeps the hard masks")
    weight_ema: float = knob(0.0, title="Weight averaging", lo=0, hi=1, hi_open=True, decimals=4, step=0.001,
                             off="off", modes=("finetune", "pseudo-label"),
                             help="save the running average of the weights (decay per step, e.g. 0.99); "
                                  "steadier on small label sets")
    average_from: float = knob(0.0, title="Average weights from", lo=0, hi=1, hi_open=True, decimals=2, step=0.1,
                               off="off", modes=("finetune",),
                               help="from this fraction of the steps or budget on, save the plain average of the "
                                    "weights after every step (stochastic weight averaging, e.g. 0.5; instead of "
                                    "weight averaging's decay); once it runs, the latest average is the model")
    # the validation images train too: the plan's, kept by run_sequence only when cross-validation measures
    val_trains: bool = knob(False, flag=None, modes=("finetune",))
    views: int = knob(0, title="Encoder views", lo=0, hi=len(VIEWS), off="off", modes=("finetune",),
                      help="a head on a frozen encoder (LiteMedSAM): also train on up to this many fixed views of "
                           "each label (gamma, zoom, contrast, shift), those whose embeddings are ready")
    # masked image modelling
    num_blocks: int = knob(8, lo=0, modes=("pretrain-mim",), help="masked blocks per image")
    block_min: float = knob(0.1, flag=None)
    block_max: float = knob(0.3, flag=None)
    mask_ratio: float = knob(0.0, title="Mask ratio (MIM)", lo=0, hi=1, hi_open=True, decimals=2, step=0.05,
                             modes=("pretrain-mim",), help="add blocks until this fraction of pixels is masked")
    # reconstruction pretraining
    noise_std: float = knob(0.1, lo=0, flag=None)
    blur_prob: float = knob(0.5, lo=0, hi=1, flag=None)
    jitter: float = knob(0.2, lo=0, flag=None)
    # mean teacher
    ema_alpha: float = knob(0.99, title="EMA alpha (Mean Teacher)", lo=0, hi=1, lo_open=True, hi_open=True,
                            decimals=4, step=0.001, modes=("mean-teacher",),
                            help="teacher weights' running-average decay per step")
    consistency_weight: float = knob(1.0, lo=0, modes=("mean-teacher",))
    rampup_epochs: int = knob(5, lo=0, modes=("mean-teacher",))
    freeze_blocks: int = knob(0, lo=0, modes=("mean-teacher",), help="freeze this many early encoder stages")
    unlabeled_batch_size: int = knob(8, lo=1, modes=("mean-teacher",))
    # pseudo-labelling
    threshold: float = knob(0.5, lo=0, hi=1, modes=("pseudo-label",))
    band: list[float] = knob([], nargs=2, metavar=("TOP", "BOTTOM"), modes=("pseudo-label",),
                             help="keep components whose centre row lies in this fraction band [top, bottom]")
    min_area_frac: float = knob(0.001, lo=0, hi=1, modes=("pseudo-label",))
    label_value: int = knob(255, lo=1, hi=255, modes=("pseudo-label",),
                            help="value written into pseudo masks (255, or 1 for label maps)")
    # infrastructure
    amp: bool = knob(True, flag=None)   # mixed precision on CUDA only
    device: str = knob("auto", plan=True, help="auto (default), cpu, cuda, mps")
    tensorboard: bool = knob(False, plan=True, help="also write TensorBoard logs")
    preview_every: int = knob(1, lo=0, flag=None)   # epochs between preview images (0 = never)
    threads: int = knob(0, lo=0, plan=True, help="torch CPU threads (0 = leave torch's default)")
    speed: str = knob("auto", plan=True,
                      help="auto (default: the fastest option measured on this machine, core.train.speed), fp32, "
                           "channels_last, bf16, bf16+channels_last, fp16, ...+compile")

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
        """Ranges and choices come from each field's knob; what spans fields is checked here."""
        get_mode(self.mode)
        check_all(self)
        if self.width and self.width < MIN_SIDE:
            raise ToothSegError(f"width must be 0 (square) or >= {MIN_SIDE}, got {self.width}")
        if not 0 < self.block_min <= self.block_max < 1:
            raise ToothSegError("block fractions must satisfy 0 < block_min <= block_max < 1")
        if self.band and (len(self.band) != 2 or not 0 <= self.band[0] < self.band[1] <= 1):
            raise ToothSegError(f"band must be two fractions 0 <= top < bottom <= 1, got {self.band}")
        if self.speed != "auto":
            from core.train.speed import option

            option(self.speed)  # raises on an unknown name
        if not isinstance(self.model, dict) or "name" not in self.model:
            raise ToothSegError("recipe 'model' must be a dict with a 'name'")
        check_model_config(self.model, "recipe", "model")
        # the checkpoint must be loadable: refuse now what save_checkpoint would refuse after training
        check_size(list(self.input_hw), "recipe", "size", int(self.model.get("base_channels", DEFAULT_BASE_CHANNELS)))


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


def default_recipe(name: str) -> Recipe:
    """The shipped defaults for ``name`` (``core/train/recipes/<name>.json``)."""
    get_mode(name)
    text = resources.files("core.train").joinpath("recipes", f"{name}.json").read_text(encoding="utf-8")
    data = json.loads(text)
    data["mode"] = name
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
