"""A Dice with its uncertainty: n images, n groups and a 95 % interval from a bootstrap over groups.

Frames of one clip are not independent evidence: the unit that varies from one user's next patient
to the next is the acquisition group (core.data.groups), so the bootstrap resamples groups, not
images, and the statistic is the image-weighted mean Dice of the resampled groups. A percentile
bootstrap over g groups is too narrow for small g (its variance is short by (g-1)/g, and the normal
quantile ignores that the spread itself is estimated), so the percentile offsets are widened by
sqrt(g/(g-1)) * t(g-1)/z. Under MIN_GROUPS groups no interval is useful: the summary says so in words.
Pure numpy, no torch, so the viewer build shows the same figures.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

MIN_GROUPS = 5      # fewer groups than this: the interval says nothing useful
MIN_IMAGES = 10
N_BOOT = 2000
# 97.5 % quantiles of Student's t for 1..30 degrees of freedom (no scipy dependency)
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
         2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
         2.052, 2.048, 2.045, 2.042)


def _t975(df: int) -> float:
    return _T975[df - 1] if 1 <= df <= len(_T975) else 1.96


def group_bootstrap(values: Sequence[float], groups: Sequence[str], seed: int = 0,
                    n_boot: int = N_BOOT) -> tuple[float, float]:
    """95 % interval of the mean of ``values`` resampling whole groups (widened for few groups)."""
    x = np.asarray(values, dtype=np.float64)
    names = sorted(set(groups))
    g = len(names)
    mean = float(x.mean())
    if g < 2:
        return mean, mean
    pos = {name: i for i, name in enumerate(names)}
    gi = np.array([pos[name] for name in groups])
    sums = np.bincount(gi, weights=x, minlength=g)
    counts = np.bincount(gi, minlength=g).astype(np.float64)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, g, size=(n_boot, g))
    boot = sums[picks].sum(axis=1) / counts[picks].sum(axis=1)
    lo, hi = np.percentile(boot, [2.5, 97.5])
    widen = math.sqrt(g / (g - 1)) * _t975(g - 1) / 1.96
    low, high = mean - (mean - lo) * widen, mean + (hi - mean) * widen
    return float(max(0.0, low)), float(min(1.0, high))


def dice_summary(values: Sequence[float], groups: Sequence[str] | Mapping[str, str] | None = None,
                 ids: Sequence[str] | None = None, seed: int = 0) -> dict[str, Any]:
    """{"dice", "n", "groups", "ci": [low, high], "ci_ok", "ci_note"} for per-image Dice ``values``.

    ``groups`` is one group name per value, or a mapping sample id -> group with ``ids``; missing
    groups count each image alone."""
    vals = [float(v) for v in values]
    if ids is not None and isinstance(groups, Mapping):
        labels = [groups.get(i, f"image:{i}") for i in ids]
    elif groups is None or isinstance(groups, Mapping):
        labels = [f"image:{k}" for k in range(len(vals))]
    else:
        labels = [str(g) for g in groups]
    if not vals:
        return {"dice": None, "n": 0, "groups": 0, "ci": None, "ci_ok": False, "ci_note": "no images scored"}
    g = len(set(labels))
    low, high = group_bootstrap(vals, labels, seed)
    ok = g >= MIN_GROUPS and len(vals) >= MIN_IMAGES
    note = "" if ok else (f"only {len(vals)} images from {g} group{'s' if g != 1 else ''}: too few for a useful "
                          "interval; this figure may be far from what new patients get")
    return {"dice": float(np.mean(vals)), "n": len(vals), "groups": g, "ci": [math.floor(low * 1e4) / 1e4, math.ceil(high * 1e4) / 1e4],
            "ci_ok": ok, "ci_note": note}


def describe(summary: Mapping[str, Any], what: str = "Dice") -> str:
    """``Dice 0.812 (95 % CI 0.741-0.868; 20 images, 9 groups)`` plus the note when there is one."""
    if summary.get("dice") is None:
        return f"{what}: {summary.get('ci_note') or 'not measured'}"
    ci = summary.get("ci")
    n, g = summary.get("n", 0), summary.get("groups", 0)
    span = f"95 % CI {ci[0]:.3f}–{ci[1]:.3f}; " if ci else ""
    text = f"{what} {summary['dice']:.3f} ({span}{n} images, {g} groups)"
    return f"{text} — {summary['ci_note']}" if summary.get("ci_note") else text


def from_metrics(metrics: Mapping[str, Any], prefix: str = "val") -> dict[str, Any] | None:
    """The summary stored flat in a model's metrics (``val_dice``, ``val_ci``, ``val_n`` ...), or None."""
    if metrics.get(f"{prefix}_dice") is None:
        return None
    return {"dice": metrics[f"{prefix}_dice"], "ci": metrics.get(f"{prefix}_ci"), "n": metrics.get(f"{prefix}_n", 0),
            "groups": metrics.get(f"{prefix}_groups", 0), "ci_note": metrics.get(f"{prefix}_note", "")}
