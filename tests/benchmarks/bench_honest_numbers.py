"""Does the interval Train on my labels reports contain what new patients get?

The visible thyroid set (TG3K frames 0000-2624, 538 pairs, PROVENANCE.md) is cut by frame id: the
last quarter of ids are "new patients" (their clips are never seen), the first three quarters are the
user's folder, all images in it and masks on 20 or 50 frames spread over it (offset by the seed).
Each run is ``toothseg train-on-labels DIR --seed S --json`` with its default budget, in a subprocess
with one torch thread. Per run it prints the reported val Dice, its 95 % interval and width, n images
and groups, and the active ONNX model's Dice on the unseen frames (predicted as the app predicts); then
the evidence behind the width (held-out Dice per fold, spread between the labels' groups, labels scored
under 0.1), the unseen clips' Dice, and the quality estimate on the same frames (Spearman, top 20 of the
review queue's order against the best possible, flagged masks).
Goal: at least 5 of the 6 intervals contain the unseen Dice, every interval narrower than 0.3.
TOOTHSEG_BENCH_LABELS=20 or =50 and TOOTHSEG_BENCH_SEEDS=0,1 run a subset; TOOTHSEG_BENCH_MINUTES=M passes
``--minutes M``; the budget counts the training process's CPU seconds (``--cpu-budget``) unless
TOOTHSEG_BENCH_WALL=1; TOOTHSEG_BENCH_EMBED_STORE=DIR keeps the unseen frames' head embeddings in DIR;
TOOTHSEG_BENCH_BACKGROUND=0 skips the background embedding the app does while the labels are drawn (printed apart).

Measured (2-core CPU at load average 10-22, default budgets, 4-fold cross-validation over groups): 6 of 6
intervals contain the unseen Dice; widths 0.34, 0.51, 0.36 (20 labels) and 0.31, 0.23, 0.25 (50 labels).
20 labels with ``--minutes 3``: 0.675 [0.561, 0.790] against 0.717 unseen (width 0.23). ADR 0012.
Third pass (ADR 0012): 20 labels, LiteMedSAM head, before its embedding store: widths 0.24, 0.27, 0.23, 2 of 2
measured contain the unseen Dice; after it (aa803be, seed 0): 0.492 [0.379, 0.609] vs 0.695, outside (fold
models trained on store embeddings the encoder does not produce); seed 1: 0.717 [0.602, 0.813] vs
0.687, inside. 50 labels (U-Net): widths 0.25, 0.12, 0.06,
1 of 3 contain it (the unseen clips are harder than the labelled ones).
Fourth pass (b971fc6-afd592e, CPU budgets, load 9-14, n = 20 / 50 labels out of fold in 10-11 groups,
unseen n = 134 frames in 4 clips): 20 labels (head) 0.672 [0.477, 0.808] (width 0.331) vs 0.757, 0.741
[0.600, 0.854] (0.254) vs 0.731, 0.645 [0.486, 0.793] (0.307) vs 0.757; 50 labels (U-Net) 0.706 [0.589,
0.820] (0.232) vs 0.726, 0.771 [0.697, 0.840] (0.143) vs 0.741, 0.740 [0.679, 0.796] (0.118) vs 0.731:
6 of 6 contain the unseen Dice, 4 of 6 narrower than 0.3. Quality on the unseen frames: Spearman 0.41 / 0.40 /
0.52 and 0.07 / 0.38 / 0.38, top 20 of the queue 0.795 / 0.819 / 0.830 and 0.718 / 0.794 / 0.780 (best possible
0.852-0.891). Why a correct 95 % interval of the expected Dice contains the mean of 3.1 effective clips only
~68 % of the time: ADR 0012, fourth pass.
Fifth pass (b762fb2-64d905e: leave-one-group-out folds up to 30 labels, 10 fold models; load 3-5; n = 20 labels
out of fold in 11 / 10 / 10 groups, unseen n = 134 frames in 4 clips): 20 labels (head) 0.707 [0.601, 0.808]
(width 0.206) vs 0.755, 0.709 [0.559, 0.840] (0.280) vs 0.731, 0.669 [0.498, 0.815] (0.317) vs 0.757: 3 of 3
contain the unseen Dice, 2 of 3 narrower than 0.3; with the fourth pass's 50-label runs (4 folds, unchanged)
6 of 6 contain it, 5 of 6 narrower (50 labels seed 0 re-run: 0.706 [0.589, 0.820] vs 0.726, as before, 472 CPU s).
408 / 408 / 426 CPU s per 20-label run (benchmark with children), of which the 10
folds 233-255 s (seeds 1-2; 4 folds would be ~100). Seed 2's width is its clip 0000-0240 (labels 0.91 / 0 / 0 out of fold with 4
folds and with 10); ADR 0012, fifth pass.
Sixth pass (the 20-label head keeps its weights averaged over its second half; ADR 0015 sixth addendum; load ~2-3,
unseen n = 134): 20 labels 0.682 [0.552, 0.811] (0.259) vs 0.757, 0.732 [0.594, 0.847] (0.252) vs 0.763, 0.725
[0.593, 0.834] (0.241) vs 0.753; 50 labels (U-Net, re-run) seeds 1-2 0.771 [0.697, 0.840] (0.143) vs 0.741, 0.740
[0.679, 0.796] (0.118) vs 0.731, as before: 6 of 6 contain the unseen Dice, 6 of 6 narrower than 0.3. Quality at
20 labels: Spearman 0.504 / 0.560 / 0.511, top 20 0.848 / 0.867 / 0.844 (best possible 0.893 / 0.894 / 0.871).
Seventh pass (the head trains on 8 fixed views per label and, measured by the folds, on its validation images; ADR
0015 seventh addendum; background embedding first, 320 inputs, 563-584 CPU-s, printed apart; two runs in parallel
on the 2 cores): 20 labels 0.682 [0.558, 0.797] (0.239) vs 0.764, 0.810 [0.732, 0.870] (0.139) vs 0.756, 0.701
[0.568, 0.822] (0.254) vs 0.757: 3 of 3 contain the unseen Dice, all narrower than 0.3 (50 labels: the U-Net plan,
unchanged). Quality: Spearman 0.507 / 0.468 / 0.613, top 20 0.858 / 0.810 / 0.846 (best possible 0.894 / 0.900 /
0.883); bulk accept on at seed 0 (held-out Spearman 0.86 on 20 labels, lowest choice 0.85): it would take 53 unseen
masks of mean true Dice 0.816, min 0.705.
Eighth pass (an AMD EPYC without bf16, background embedding first as before; two runs in parallel): 20 labels 0.684
[0.561, 0.801] (0.239) vs 0.764, 0.765 [0.626, 0.881] (0.256) vs 0.780, 0.701 [0.568, 0.822] (0.255) vs 0.756: 3 of 3
contain the unseen Dice, all narrower than 0.3; background embedding 731-799 CPU-s, active after 64-76 s. Quality:
Spearman 0.500 / 0.488 / 0.615, top 20 0.853 / 0.862 / 0.845 (best possible 0.893 / 0.891 / 0.883); signals from
the frame's clip (smoothing, neighbour agreement, area against the clip's) did not help (ADR 0016, eighth pass).
30 labels (TOOTHSEG_BENCH_LABELS=30, seeds 0 / 1, same machine): 0.684 [0.569, 0.782] (0.213) vs 0.763, 0.762 [0.663,
0.848] (0.185) vs 0.762, both inside; Spearman 0.568 / 0.526, top 20 0.832 / 0.844 (ADR 0015, last note).
Ninth pass (9dbc835, an AMD EPYC with AVX-512 BF16): 20 labels as the eighth pass (seed 2's interval [0.567,
0.822], Spearman 0.608, top 20 0.846), plus one least-squares line over all 16 signals fitted on the unseen frames'
true Dice (``signal_ceiling.py``): in-sample Spearman 0.754 / 0.731 / 0.814, fitted on the other clips 0.411 / 0.343 /
0.558 -- below the shipped estimate on every seed (ADR 0016, ninth pass).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from core.data.io import read_image, read_mask
from core.metrics import dice
from tests.benchmarks.signal_ceiling import ceiling, mask_signals

REPO = Path(__file__).resolve().parents[2]
LABELS = [int(x) for x in os.environ.get("TOOTHSEG_BENCH_LABELS", "20,50").split(",")]
SEEDS = [int(x) for x in os.environ.get("TOOTHSEG_BENCH_SEEDS", "0,1,2").split(",")]
MINUTES = os.environ.get("TOOTHSEG_BENCH_MINUTES", "")  # budget instead of the planner's default (e.g. a loaded CPU)
# the budget in the training process's CPU seconds (what one free core gives), unless =1: wall seconds, which on
# this shared machine measure the neighbours (a 50-label U-Net: 0.713 on the unseen frames with its 1.75 wall-minutes
# at load ~10, 0.740 with 1.75 CPU-minutes)
WALL = os.environ.get("TOOTHSEG_BENCH_WALL", "") == "1"
EMBED_STORE = os.environ.get("TOOTHSEG_BENCH_EMBED_STORE", "")  # a folder for the unseen frames' head embeddings
# what the app's background job embeds while the labels are drawn (each label, its mirror image and the plan's fixed
# views, ADR 0015 seventh addendum) before the CLI runs; "0": the CLI alone, nothing embedded before it
BACKGROUND = os.environ.get("TOOTHSEG_BENCH_BACKGROUND", "1") == "1"


def cut_by_id(src: Path) -> tuple[list[str], list[str]]:
    """(the user's folder, the unseen quarter) by frame id, moved forward to the next clip boundary the
    group detector finds (one frame, 1927, would otherwise share a clip with the folder)."""
    from core.data.groups import find_groups
    from core.data.layouts import load_index

    names = sorted(p.name for p in (src / "images").iterdir())
    groups = find_groups(load_index(src)).groups
    k = len(names) * 3 // 4
    while 0 < k < len(names) and groups[Path(names[k]).stem] == groups[Path(names[k - 1]).stem]:
        k += 1
    return names[:k], names[k:]


def spread(names: list[str], n: int, seed: int) -> list[str]:
    step = len(names) // n
    return names[(seed * step) // 3 :: step][:n]


def make_folder(src: Path, dest: Path, pool: list[str], labeled: list[str]) -> Path:
    (dest / "images").mkdir(parents=True)
    (dest / "masks").mkdir()
    for name in pool:
        shutil.copy(src / "images" / name, dest / "images" / name)
    for name in labeled:
        shutil.copy(src / "masks" / name, dest / "masks" / name)
    return dest


def group_alignment(src: Path, unseen: list[str]) -> str:
    """How the detector's groups of the whole visible set line up with the id cut."""
    from core.data.groups import find_groups
    from core.data.layouts import load_index

    grouping = find_groups(load_index(src))
    cut = {Path(n).stem for n in unseen}
    inside = {g for sid, g in grouping.groups.items() if sid in cut}
    straddle = sorted(g for g in inside if any(sid not in cut for sid, h in grouping.groups.items() if h == g))
    return (f"{grouping.count} groups in the visible set ({grouping.method}); the unseen quarter holds "
            f"{len(inside)} of them; straddling the cut: {', '.join(straddle) or 'none'}")


def unseen_rows(onnx: str, src: Path, unseen: list[str], checkpoint: Path | None = None) -> list[dict]:
    """Each unseen frame as the review queue would see it: true Dice, estimated Dice, flags, its clip. With
    EMBED_STORE, a LiteMedSAM-head model is run from its checkpoint in PyTorch, the unseen frames' embeddings
    read from that folder (the same encoder weights; its export checked ONNX against PyTorch to 5e-3 in the
    logits): ~3 CPU-minutes less per run than encoding the 134 frames again in the ONNX graph."""
    from core.data.groups import find_groups
    from core.data.layouts import load_index
    from core.infer.backends import read_onnx
    from core.infer.predictor import load_predictor
    from core.infer.quality import assess

    head = read_onnx(onnx, Path(onnx).name)["architecture"].get("name") == "litemedsam_head"
    if EMBED_STORE and head and checkpoint is not None:
        predictor = load_predictor(checkpoint, backend="torch")
        predictor.backend.model._memo.store = Path(EMBED_STORE)
    else:
        predictor = load_predictor(onnx)
    groups = find_groups(load_index(src)).groups
    rows = []
    for n in unseen:
        image = read_image(src / "images" / n)
        pred, info = assess(predictor, image)
        probs = pred.probabilities
        fg = probs[0] if probs.shape[0] == 1 else 1.0 - probs[0]
        rows.append({"id": Path(n).stem, "dice": dice(pred.mask, read_mask(src / "masks" / n)),
                     "quality": info["quality"], "flags": info["flags"], "group": groups[Path(n).stem],
                     **{k: info[k] for k in ("soft", "area", "gate", "position") if k in info},
                     **mask_signals(image, pred.mask > 0, fg)})
    return rows


def evidence(run_dir: Path, rows: list[dict]) -> str:
    """Why the interval is as wide as it is (per fold, per group of the labels) and how the quality estimate
    ranks the same unseen frames (Spearman; mean true Dice of the 20 the queue shows first: unflagged, by
    estimate; the best any ordering could reach)."""
    from collections import defaultdict

    from scipy.stats import spearmanr

    from core.hitl.review import queue_key
    from core.infer.quality import QualityModel

    cv = json.loads((run_dir / "cross_validation.json").read_text()) if (run_dir / "cross_validation.json").exists() else {}
    by_fold, by_group = defaultdict(list), defaultdict(list)
    for r in cv.get("per_image", []):
        by_fold[r["fold"]].append(r["dice"])
        by_group[r["group"]].append(r["dice"])
    quality = json.loads((run_dir / "best.json").read_text()).get("quality") or {}
    true = np.array([r["dice"] for r in rows])
    est = np.array([r["quality"] for r in rows])
    queue = sorted(range(len(rows)), key=lambda i: queue_key(not rows[i]["flags"], est[i], rows[i]["id"]))
    bound = ceiling(rows)
    unseen_groups = defaultdict(list)
    for r in rows:
        unseen_groups[r["group"]].append(r["dice"])
    fmt = ", ".join
    return (f"    folds: {fmt(f'{np.mean(v):.2f} (n={len(v)})' for _, v in sorted(by_fold.items()))}; label groups' "
            f"Dice SD {np.std([np.mean(v) for v in by_group.values()], ddof=1) if len(by_group) > 1 else 0:.3f}; "
            f"labels under 0.1: {sum(r['dice'] < 0.1 for r in cv.get('per_image', []))}\n"
            f"    unseen clips: {fmt(f'{np.mean(v):.2f} (n={len(v)})' for v in unseen_groups.values())}\n"
            f"    quality ({'x'.join(quality.get('terms', []))}, held-out Spearman {quality.get('val_spearman') or 0:.2f}, "
            f"lowest of the choices {quality.get('trust_spearman') or 0:.2f}, bulk accept "
            f"{'on' if QualityModel.from_json(quality).trusted else 'off'}): "
            f"Spearman {spearmanr(est, true)[0]:.3f} (goal >= 0.6); top 20 {true[queue[:20]].mean():.3f} (goal >= 0.85; "
            f"best possible {np.sort(true)[-20:].mean():.3f}); flagged {sum(bool(r['flags']) for r in rows)}\n"
            f"    every signal in one line fitted on the true Dice ({bound['signals']} signals): in-sample Spearman "
            f"{bound['in_sample']:.3f} (no line over them fitted on the labels does better), fitted on the other clips "
            f"{bound['leave_one_clip_out']:.3f} (against the estimate's {bound['shipped']:.3f})")


def background_embedding(root: Path) -> str:
    """The app's background embedding of the labels (``core.hitl.background_embed``), in a one-thread child
    process like the CLI's; its CPU seconds in words."""
    code = ("import json, sys, time, torch; torch.set_num_threads(1); from core.hitl.background_embed import "
            "LabelEmbedder; c = time.process_time(); r = LabelEmbedder().update(sys.argv[1]); "
            "print(json.dumps({**r, 'cpu_s': round(time.process_time() - c, 1)}))")
    run = subprocess.run([sys.executable, "-c", code, str(root)], cwd=REPO, capture_output=True, text=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stderr[-2000:]
    done = json.loads(run.stdout.strip().splitlines()[-1])
    return (f"background embedding before the button: {done.get('embedded')} inputs, {done.get('seconds')} s wall, "
            f"{done.get('cpu_s')} CPU-s")


def test_honest_numbers(shared_data, tmp_path):
    src = shared_data / "tg3k_thyroid"
    pool, unseen = cut_by_id(src)
    print(f"\nuser's folder: {len(pool)} frames (ids {pool[0][:4]}-{pool[-1][:4]}); unseen: {len(unseen)} frames "
          f"(ids {unseen[0][:4]}-{unseen[-1][:4]})")
    print(group_alignment(src, unseen))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    rows = []
    for n in LABELS:
        for seed in SEEDS:
            root = make_folder(src, tmp_path / f"l{n}s{seed}", pool, spread(pool, n, seed))
            if BACKGROUND:
                print(f"{n} labels, seed {seed}: {background_embedding(root)}", flush=True)
            cmd = [sys.executable, "-m", "training.cli", "train-on-labels", str(root), "--seed", str(seed), "--json",
                   *(["--minutes", MINUTES] if MINUTES else []), *([] if WALL else ["--cpu-budget"])]
            run = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
            assert run.returncode == 0, run.stderr[-2000:]
            out = json.loads(run.stdout)
            rows_u = unseen_rows(out["onnx"], src, unseen, Path(out["model"]).with_suffix(".safetensors"))
            # the evidence stays beside the model (with cross_validation.json), so figures can be re-derived
            (Path(out["model"]).parent / "unseen_rows.json").write_text(json.dumps(rows_u))
            scores = [r["dice"] for r in rows_u]
            low, high = out["val_ci"]
            inside = low <= float(np.mean(scores)) <= high
            rows.append((inside, high - low))
            print(f"{n} labels, seed {seed}: val Dice {out['val_dice']:.3f} [{low:.3f}, {high:.3f}] width "
                  f"{high - low:.3f} (n={out['val_n']}, {out['val_groups']} groups, {out['val_method']}; holdout "
                  f"{out['holdout_dice'] or 0:.3f} n={out['holdout_n']}); unseen Dice {np.mean(scores):.3f} "
                  f"(n={len(scores)}, median {np.median(scores):.3f}) {'inside' if inside else 'OUTSIDE'}; "
                  f"model active after {out['active_seconds']:.0f} s, interval after {out['seconds']:.0f} s", flush=True)
            if out["val_note"]:
                print(f"    note: {out['val_note']}")
            print(evidence(Path(out["model"]).parent, rows_u), flush=True)
    hits = sum(r[0] for r in rows)
    print(f"intervals containing the unseen Dice: {hits} of {len(rows)} (goal >= 5 of 6); widths "
          f"{min(r[1] for r in rows):.3f}-{max(r[1] for r in rows):.3f} (goal < 0.3)")
