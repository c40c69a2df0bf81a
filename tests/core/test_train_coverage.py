"""Cold-start "label next" by coverage, on all 538 real thyroid frames and through ``toothseg suggest``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.data.io import read_image
from core.train.coverage import rank_by_coverage, thumbnail
from tests.core.test_train_support import make_subset
from training.cli import main


@pytest.fixture(scope="module")
def frames(shared_data) -> dict[str, np.ndarray]:
    folder = shared_data / "tg3k_thyroid" / "images"
    return {p.name: read_image(p) for p in sorted(folder.iterdir())}


def mean_gap(frames: dict, picks: list[str]) -> float:
    """Mean distance from every frame to its nearest pick, in thumbnail space."""
    x = np.stack([thumbnail(im) for im in frames.values()])
    p = np.stack([thumbnail(frames[k]) for k in picks])
    return float(np.sqrt(((x[:, None] - p[None]) ** 2).sum(2).min(1)).mean())


def test_coverage_picks_cover_the_folder_better_than_spread_or_random_picks(frames):
    names = list(frames)
    ranked = rank_by_coverage(names, [], frames.__getitem__, top=20)
    assert ranked == rank_by_coverage(names, [], frames.__getitem__, top=20)       # seeded
    picks = [sid for sid, _ in ranked]
    assert len(set(picks)) == 20
    shares = [s for _, s in ranked]
    assert shares == sorted(shares, reverse=True) and all(s > 0 for s in shares) and sum(shares) <= 1
    spread = names[:: len(names) // 20][:20]
    rng = np.random.default_rng(0)
    random_gaps = [mean_gap(frames, list(rng.choice(names, 20, replace=False))) for _ in range(5)]
    gap = mean_gap(frames, picks)
    assert gap < mean_gap(frames, spread) and gap < min(random_gaps), (gap, random_gaps)


def test_images_like_a_labeled_one_go_after_the_uncovered_groups(frames):
    names = list(frames)
    labeled = [sid for sid, _ in rank_by_coverage(names, [], frames.__getitem__, top=5)]
    pool = dict(frames) | {f"copy_of_{k}": frames[k] for k in labeled}       # exact copies, still unlabeled
    candidates = [k for k in pool if k not in labeled]
    ranked = rank_by_coverage(candidates, labeled, pool.__getitem__, top=25)
    first = [sid for sid, score in ranked if score > 0]
    assert len(first) >= 15 and not any(sid.startswith("copy_of_") for sid in first)
    # and the first picks lie farther from the labeled images than the typical candidate does
    lab = np.stack([thumbnail(pool[k]) for k in labeled])

    def to_labeled(ids):
        x = np.stack([thumbnail(pool[k]) for k in ids])
        return float(np.sqrt(((x[:, None] - lab[None]) ** 2).sum(2).min(1)).mean())

    assert to_labeled(first) > to_labeled(candidates)


def test_suggest_by_coverage_on_the_cli(shared_data, tmp_path, capsys):
    root = make_subset(shared_data / "tg3k_thyroid", tmp_path / "thy", 6, n_unlabeled=8)
    assert main(["suggest", "--data", str(root), "--method", "coverage", "--top", "5", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    unlabeled = {p.stem for p in (root / "unlabeled").iterdir()}
    assert result["method"] == "coverage" and result["n"] == 8 and [r["rank"] for r in result["ranked"]] == [1, 2, 3, 4, 5]
    assert {r["id"].split("/")[-1].rsplit(".", 1)[0] for r in result["ranked"]} <= unlabeled
    assert all(r["score"] >= 0 for r in result["ranked"]) and len({r["id"] for r in result["ranked"]}) == 5
