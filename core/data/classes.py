"""Class tables: the binary default and the FDI 32-teeth preset with a colour-blind-safe palette."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

# Okabe-Ito (colour-blind safe) base hues, cycled with two lightness steps for 32 teeth.
OKABE_ITO = ["#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#999999"]
FDI_NUMBERS = [q * 10 + t for q in (1, 2, 3, 4) for t in range(1, 9)]


@dataclass
class ClassDef:
    """A class: ``value`` is the pixel value in label-map masks (an FDI number for teeth)."""

    value: int
    name: str
    color: str

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> ClassDef:
        return cls(int(d["value"]), str(d["name"]), str(d["color"]))


def _shade(hex_color: str, factor: float) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    if factor >= 1:
        r, g, b = (int(c + (255 - c) * (factor - 1)) for c in (r, g, b))
    else:
        r, g, b = (int(c * factor) for c in (r, g, b))
    return f"#{r:02X}{g:02X}{b:02X}"


def binary_classes(name: str = "foreground") -> list[ClassDef]:
    return [ClassDef(1, name, "#E69F00")]


def fdi_classes() -> list[ClassDef]:
    """32 permanent teeth, FDI numbers as label values; neighbours never share a colour."""
    out = []
    for number in FDI_NUMBERS:
        quadrant = number // 10
        base = OKABE_ITO[(number % 10 - 1) % 8]
        shade = (1.0, 1.45, 0.7, 1.25)[quadrant - 1]
        out.append(ClassDef(number, f"tooth {number}", _shade(base, shade)))
    return out


PRESETS = {"binary": binary_classes, "fdi": fdi_classes}


def classes_from_values(values: set[int]) -> list[ClassDef]:
    """Guess a class table from the label values found in masks (FDI when they look like teeth)."""
    values = {v for v in values if v != 0}
    if values and values <= set(FDI_NUMBERS) and len(values) > 2:
        return fdi_classes()
    if values <= {1}:
        return binary_classes()
    return [ClassDef(v, f"class {v}", OKABE_ITO[i % 8]) for i, v in enumerate(sorted(values))]


def mirror_value(value: int) -> int:
    """The FDI number of the same tooth on the patient's other side (11 <-> 21, 36 <-> 46, 55 <-> 65);
    any other value is its own mirror image."""
    quadrant, tooth = divmod(int(value), 10)
    if 1 <= quadrant <= 8 and 1 <= tooth <= 8:
        return (quadrant + 1 if quadrant % 2 else quadrant - 1) * 10 + tooth
    return int(value)


def mirror_indices(values: Sequence[int]) -> list[int] | None:
    """Label values in channel order (background first) -> the channel holding each channel's mirror
    image, or None when a left-right flip changes no class. Only a table of FDI numbers is mirrored:
    a flipped panoramic shows tooth 11 where 21 was, so flips in training and test-time augmentation
    must swap the two or the model cannot learn which side is which."""
    teeth = [int(v) for v in values[1:]]
    if len(teeth) < 2 or any(mirror_value(v) == v or not 11 <= v <= 88 for v in teeth):
        return None
    where = {int(v): i for i, v in enumerate(values)}
    perm = [0] + [where.get(mirror_value(v), i) for i, v in enumerate(teeth, start=1)]
    return None if perm == list(range(len(values))) else perm
