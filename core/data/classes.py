"""Class tables: the binary default, the FDI 32-teeth preset and the mixed-dentition preset (32
permanent + 20 deciduous teeth, FDI 51-85) with a colour-blind-safe palette."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

# Okabe-Ito (colour-blind safe) base hues, cycled with two lightness steps for 32 teeth.
OKABE_ITO = ["#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#999999"]
FDI_NUMBERS = [q * 10 + t for q in (1, 2, 3, 4) for t in range(1, 9)]
DECIDUOUS_FDI_NUMBERS = [q * 10 + t for q in (5, 6, 7, 8) for t in range(1, 6)]


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


def _tooth(number: int) -> ClassDef:
    quadrant = number // 10
    base = OKABE_ITO[(number % 10 - 1) % 8]
    # deciduous quadrants 5-8 reuse the permanent quadrants' shades, one step paler
    shade = (1.0, 1.45, 0.7, 1.25, 1.2, 1.6, 0.85, 1.4)[quadrant - 1]
    kind = "tooth" if quadrant <= 4 else "deciduous tooth"
    return ClassDef(number, f"{kind} {number}", _shade(base, shade))


def fdi_classes() -> list[ClassDef]:
    """32 permanent teeth, FDI numbers as label values; neighbours never share a colour."""
    return [_tooth(n) for n in FDI_NUMBERS]


def fdi_mixed_classes() -> list[ClassDef]:
    """Mixed dentition (children 6-12 years): 32 permanent and 20 deciduous teeth (FDI 51-85)."""
    return [_tooth(n) for n in FDI_NUMBERS + DECIDUOUS_FDI_NUMBERS]


PRESETS = {"binary": binary_classes, "fdi": fdi_classes, "fdi-mixed": fdi_mixed_classes}


def classes_from_values(values: set[int]) -> list[ClassDef]:
    """Guess a class table from the label values found in masks (FDI when they look like teeth)."""
    values = {v for v in values if v != 0}
    if values and values <= set(FDI_NUMBERS) and len(values) > 2:
        return fdi_classes()
    if len(values) > 2 and values <= set(FDI_NUMBERS) | set(DECIDUOUS_FDI_NUMBERS):
        return fdi_mixed_classes()
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


def is_fdi_tooth(value: int) -> bool:
    return int(value) in _ALL_TEETH


_ALL_TEETH = frozenset(FDI_NUMBERS + DECIDUOUS_FDI_NUMBERS)


def neighbour_tooth(value: int, step: int = 1) -> int | None:
    """The FDI number ``step`` teeth further along the arch from ``value`` (36 -> 37, 18 -> 28 across
    the midline is not a neighbour: the arch runs 18..11 | 21..28, so 11 +1 -> 12 and 11 -1 -> 21),
    or None at the end of the arch or for a value that is not a tooth. Deciduous teeth stay
    deciduous (55 -> None, 51 -1 -> 61)."""
    quadrant, tooth = divmod(int(value), 10)
    if not is_fdi_tooth(value):
        return None
    last = 8 if quadrant <= 4 else 5
    tooth += step
    if tooth < 1:                      # crossing the midline into the other side of the same jaw
        other = mirror_value(quadrant * 10 + 1) // 10
        tooth = 1 - tooth
        quadrant = other
    if tooth > last:
        return None
    return quadrant * 10 + tooth
