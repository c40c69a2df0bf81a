"""Dataset subcommands: check, stats, index, split (by acquisition group, core.data.groups)."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from core.data.layouts import load_index
from core.data.project import Project
from core.data.qc import check_dataset, mask_statistics
from core.data.splits import DEFAULT_RATIOS, make_splits
from training.output import emit


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="detect the layout, count images and labels, list problems")
    p.add_argument("dir", type=Path)
    p.add_argument("--layout", help="force a layout instead of auto-detection")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("stats", help="mask statistics per class")
    p.add_argument("dir", type=Path)
    p.add_argument("--layout")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("index", help="print or save the sample index as CSV")
    p.add_argument("dir", type=Path)
    p.add_argument("--layout")
    p.add_argument("--csv", type=Path, help="write the CSV here instead of stdout")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("split", help="seeded, group- and duplicate-aware train/val/test split")
    p.add_argument("dir", type=Path)
    p.add_argument("--layout")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ratios", type=float, nargs=3, default=list(DEFAULT_RATIOS), metavar=("TRAIN", "VAL", "TEST"))
    p.add_argument("--no-dedupe", action="store_true", help="do not group near-duplicate images")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_split)


def _index_and_project(args: argparse.Namespace):
    index = load_index(args.dir, args.layout)
    project = Project.open(index.root)
    return project.apply(index), project


def cmd_check(args: argparse.Namespace) -> int:
    index, project = _index_and_project(args)
    report = check_dataset(index, project)
    result = report.to_json()
    lines = [f"layout: {report.layout}", f"images: {report.images} "
             f"(labeled {report.labeled}, unlabeled {report.unlabeled})",
             f"problems: {len(report.problems)}"]
    lines += [f"  [{p.severity}] {p.kind}: {p.path}: {p.message}" for p in report.problems[:50]]
    if len(report.problems) > 50:
        lines.append(f"  ... and {len(report.problems) - 50} more (use --json for all)")
    emit(result, args.json, "\n".join(lines))
    return 1 if any(p.severity == "error" for p in report.problems) else 0


def cmd_stats(args: argparse.Namespace) -> int:
    index, project = _index_and_project(args)
    report = check_dataset(index, project)
    stats = mask_statistics(report)
    stats["layout"] = report.layout
    stats["unreadable_masks"] = sum(1 for p in report.problems if p.kind == "unreadable_mask")
    lines = [f"layout: {report.layout}", f"masks: {stats['masks']} (empty: {stats['empty_masks']})"]
    if stats["unreadable_masks"]:
        lines.append(f"left out: {stats['unreadable_masks']} unreadable mask(s) (toothseg check names them)")
    for name, c in stats["classes"].items():
        lines.append(f"  {name:>10}: n={c['masks']:4d} area {c['area_frac_mean']:.4f} "
                     f"[{c['area_frac_min']:.4f}, {c['area_frac_max']:.4f}] "
                     f"rows {c['rel_y_min']:.2f}-{c['rel_y_max']:.2f}")
    emit(stats, args.json, "\n".join(lines))
    return 0


def cmd_index(args: argparse.Namespace) -> int:
    index, _ = _index_and_project(args)
    text = index.to_csv(args.csv)
    if args.csv is None:
        sys.stdout.write(text)
    else:
        print(f"wrote {len(index)} samples to {args.csv}")
    return 0


def cmd_split(args: argparse.Namespace) -> int:
    from core.data.groups import find_groups, store_groups

    index, project = _index_and_project(args)
    grouping = find_groups(index)  # acquisition groups: no val/test image shares a clip or patient with train
    store_groups(project, grouping)
    for s in index:
        s.group = grouping.groups.get(s.id, s.group)
    splits = make_splits(index, args.ratios, args.seed, dedupe=not args.no_dedupe)
    project.splits = splits
    project.split_seed = args.seed
    saved = project.save()
    counts = Counter(splits[s.id] for s in index if s.has_mask)
    result = {"train": counts.get("train", 0), "val": counts.get("val", 0), "test": counts.get("test", 0),
              "unlabeled_train": sum(1 for s in index if not s.has_mask), "seed": args.seed,
              "project": str(saved), "groups": grouping.count, "groups_method": grouping.method,
              "groups_note": grouping.message}
    note = f"\nnote: {grouping.message}" if grouping.message else ""
    emit(result, args.json, f"labeled: train {result['train']}, val {result['val']}, test {result['test']}; "
                            f"{grouping.count} acquisition groups ({grouping.method}); saved to {saved}{note}")
    return 0
