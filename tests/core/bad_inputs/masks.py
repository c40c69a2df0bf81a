"""Bad masks of the bad-input corpus: unreadable, wrong size, wrong values, strays without an image."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.core.bad_input_cases import FAIL, OK, REPORT, Case, Inputs
from tests.core.bad_inputs.images import flip, float_img, png_header_only, tiff

MASK_RUNS = {"check": REPORT, "stats": OK, "index": OK, "evaluate": FAIL, "split": OK}


def mask_case(cid: str, name: str, make, says: str = "", runs: dict | None = None, **kw) -> Case:
    """One sample: a good image ``a.png`` with the bad mask ``name`` (bytes from ``make(env)``); ``stats``
    must say it left an unreadable mask out."""

    def build(root: Path, env) -> Inputs:
        env.paired(root, "a.png", None, name, make(env))
        return Inputs(data=root, image=root / "images")

    kw.setdefault("says_by", {"stats": "1 unreadable mask"})
    return Case(f"mask-{cid}", build, runs or MASK_RUNS, says=says or name, **kw)


def _stray(root: Path, env) -> Inputs:
    """Two clean 0/255 masks and one with a stray 128 square (a leftover of anti-aliased painting)."""
    env.good_dataset(root)
    m = env.mask.copy()
    m[:10, :10] = 128
    env.paired(root, "a.png", None, "a.png", env.mask_png(m))
    return Inputs(data=root, image=root / "images")


MASK_CASES = [
    mask_case("wrong-size", "a.png", lambda e: e.mask_png(e.mask[:100, :120]), says="120x100", says_by={}),
    mask_case("truncated", "a.png", lambda e: e.mask_png()[:60]),
    mask_case("zero-bytes", "a.png", lambda e: b""),
    mask_case("text", "a.png", lambda e: b"not a mask"),
    mask_case("16bit-values", "a.png", lambda e: e.png(e.mask.astype(np.uint16) * 4), says="exceed 255"),
    mask_case("float-nan", "a.tif", lambda e: tiff(float_img(e, np.nan)), says="nan"),
    mask_case("huge-dims", "a.png", lambda e: png_header_only(40000, 40000)),
    mask_case("bitflip", "a.png", lambda e: flip(e.mask_png(), 0.6)),
    Case("mask-stray-value", _stray, {"check": REPORT, "stats": OK, "index": OK, "evaluate": OK, "split": OK},
         says="unexpected_values"),
    mask_case("empty", "a.png", lambda e: e.mask_png(np.zeros_like(e.mask)), says="empty_mask",
              runs={"check": OK, "stats": OK, "index": OK, "split": OK}, says_by={"check": "empty_mask"}),
]
