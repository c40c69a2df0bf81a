"""One definition of every training mode and of what describes a recipe field.

``MODE_LIST`` names each mode's objective, title and help; every ``Recipe`` field carries a ``Spec``
(``knob(...)`` in ``core.train.recipe``) with its help, range, choices, CLI flag and whether the
Training panel's Advanced form shows it. The ``toothseg`` training subcommands, the Advanced form and
``Recipe.validate`` are generated from these, so a new field or mode is written once (ADR 0001).
"""

from __future__ import annotations

import importlib
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any

from core.errors import ToothSegError
from core.models.metadata_schema import MAX_BASE_CHANNELS


@dataclass(frozen=True)
class Mode:
    name: str
    title: str                  # Training panel's mode menu
    help: str                   # CLI subcommand help
    objective: str              # "module:Class" of the core.train objective the loop runs
    segmentation: bool          # ends with an ONNX export and validation Dice (can become the active model)


MODE_LIST = (
    Mode("pretrain-mim", "Pretrain (MIM)", "masked image modelling on every image (labeled or not)",
         "core.train.mim:PretrainObjective", False),
    Mode("pretrain-recon", "Pretrain (reconstruction)", "reconstruct images from noisy, blurred, jittered copies",
         "core.train.recon:ReconObjective", False),
    Mode("finetune", "Fine-tune", "supervised training (BCE + Dice), optionally from a pretrained --init",
         "core.train.finetune:FinetuneObjective", True),
    Mode("mean-teacher", "Mean Teacher",
         "semi-supervised: student + EMA teacher with consistency on unlabeled images",
         "core.train.mean_teacher:MeanTeacherObjective", True),
    Mode("pseudo-label", "Pseudo-label (small U-Net)",
         "train (or take) a small U-Net and write cleaned masks for unlabeled images",
         "core.train.finetune:FinetuneObjective", True),  # trains the small U-Net; core.train.pseudo then labels
)
MODES_BY_NAME = {m.name: m for m in MODE_LIST}
MODES = tuple(MODES_BY_NAME)
SUPERVISED = ("finetune", "mean-teacher", "pseudo-label")


def get_mode(name: str) -> Mode:
    if name not in MODES_BY_NAME:
        raise ToothSegError(f"unknown training mode {name!r}; expected one of {', '.join(MODES)}")
    return MODES_BY_NAME[name]


def objective_class(name: str) -> type:
    """The objective class of mode ``name`` (imports its module; torch)."""
    module, _, cls = get_mode(name).objective.partition(":")
    return getattr(importlib.import_module(module), cls)


@dataclass(frozen=True)
class Spec:
    """How one recipe field is shown, parsed and checked."""

    help: str = ""
    title: str = ""                     # label in the Training panel's Advanced form; "" = not shown there
    lo: float | None = None             # valid range (checked by Recipe.validate, bounds the form's spin box)
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    choices: dict[str, str] | None = None   # value -> title shown in a menu
    modes: tuple[str, ...] = ()         # modes that use it (their CLI flag, form field enabled); () = all
    flag: str | None = ""               # CLI flag; "" = --name-with-dashes, None = no flag
    plan: bool = False                  # CLI: refines the device-aware plan of a flagless finetune
    step: float = 1.0                   # form: spin step
    decimals: int = 0                   # form: 0 = whole numbers
    off: str = ""                       # form: text shown for the lowest value ("off", "square")
    nargs: int = 0                      # CLI: a list field given as this many numbers
    metavar: tuple[str, ...] = ()

    def cli_flag(self, name: str) -> str | None:
        return None if self.flag is None else self.flag or "--" + name.replace("_", "-")

    def used_by(self, mode_name: str) -> bool:
        return not self.modes or mode_name in self.modes


def knob(default: Any, **spec: Any) -> Any:
    """A Recipe field with its Spec (mutable defaults are copied per instance)."""
    meta = {"spec": Spec(**spec)}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)  # type: ignore[call-arg]
    return field(default=default, metadata=meta)


def specs(cls: type) -> list[tuple[Field, Spec]]:
    """(dataclass field, Spec) for every field of ``cls`` that has one, in declaration order."""
    return [(f, f.metadata["spec"]) for f in fields(cls) if "spec" in f.metadata]


def default_of(f: Field) -> Any:
    return f.default_factory() if f.default is MISSING else f.default  # type: ignore[misc]


# Keys inside the recipe's ``model`` dict that the CLI and the form set; "name" lists the model registry.
MODEL_SPECS: dict[str, tuple[type, Spec]] = {
    "name": (str, Spec(title="Model", flag="--arch", help="model name from the registry (unet, unet_scag, ...)")),
    "base_channels": (int, Spec(title="Base channels", lo=1, hi=MAX_BASE_CHANNELS, flag="--base-channels",
                                help="width of the first feature map")),
}


def check_value(name: str, spec: Spec, value: Any) -> None:
    """One field against its range and choices; one line naming the field when it is out of them."""
    if spec.choices is not None and value not in spec.choices:
        raise ToothSegError(f"{name} must be one of {', '.join(map(repr, spec.choices))}, not {value!r}")
    if spec.lo is None and spec.hi is None:
        return
    lo = -float("inf") if spec.lo is None else spec.lo
    hi = float("inf") if spec.hi is None else spec.hi
    low_ok = value > lo if spec.lo_open else value >= lo
    high_ok = value < hi if spec.hi_open else value <= hi
    if not (low_ok and high_ok):
        left, right = "(" if spec.lo_open else "[", ")" if spec.hi_open else "]"
        raise ToothSegError(f"{name} must lie in {left}{lo:g}, {hi:g}{right}, got {value:g}")


def check_all(recipe: Any) -> None:
    for f, spec in specs(type(recipe)):
        check_value(f.name, spec, getattr(recipe, f.name))
