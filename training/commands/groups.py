"""`toothseg groups DIR [--json]`: find the folder's acquisition groups and keep them in the project."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from training.output import emit


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("groups", help="acquisition groups (patient, series, clip) that splits keep together")
    p.add_argument("dir", type=Path)
    p.add_argument("--layout", help="force a layout instead of auto-detection")
    p.add_argument("--json", action="store_true", help="print one JSON object (with the group of every image)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from core.data.groups import find_groups, store_groups
    from core.data.layouts import load_index
    from core.data.project import Project

    index = load_index(args.dir, args.layout)
    project = Project.open(index.root)
    project.apply(index)
    grouping = find_groups(index)
    store_groups(project, grouping)
    saved = project.save()
    sizes = Counter(grouping.groups.values())
    labeled = Counter(grouping.groups[s.id] for s in index if s.has_mask)
    result = {"groups": grouping.count, "method": grouping.method, "message": grouping.message,
              "sources": grouping.sources, "labeled_groups": len(labeled), "project": str(saved),
              "sizes": dict(sorted(sizes.items())), "of": grouping.groups}
    lines = [f"{grouping.count} acquisition groups ({grouping.method}) in {len(index)} images; "
             f"labels in {len(labeled)} of them; saved to {saved}"]
    if grouping.message:
        lines.append(f"note: {grouping.message}")
    lines += [f"  {name}: {n} images, {labeled.get(name, 0)} labeled" for name, n in sorted(sizes.items())[:50]]
    if len(sizes) > 50:
        lines.append(f"  ... and {len(sizes) - 50} more (--json lists all)")
    emit(result, args.json, "\n".join(lines))
    return 0
