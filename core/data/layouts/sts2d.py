"""The STS-2D-Tooth tree: {adult, children} x {labeled, unlabeled} x {images, masks}.

The published archive nests this tree one or two folders deep (``SD-Tooth/STS-2D-Tooth/...``) and
names the age folders ``A-PXI`` / ``C-PXI`` in some releases, so the root is searched a few levels
down and folder names are matched loosely. Masks carry the pair id of their image, possibly with a
``_mask`` suffix. When an index CSV with the seed's columns (rel_path, age_group, label_status,
is_mask, pair_id) lies at the tree root it is used as-is.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from core.data.layouts.base import Layout, list_images, register_layout, subdirs
from core.data.sample import Sample, SampleIndex
from core.errors import LayoutError

AGE_NAMES = {"adult": "adult", "adults": "adult", "a-pxi": "adult", "a_pxi": "adult", "a": "adult",
             "children": "children", "child": "children", "kids": "children", "c-pxi": "children",
             "c_pxi": "children", "c": "children"}
LABEL_NAMES = {"labeled": "labeled", "labelled": "labeled", "unlabeled": "unlabeled", "unlabelled": "unlabeled"}
IMAGE_NAMES = ("images", "image", "img", "imgs")
MASK_NAMES = ("masks", "mask", "labels", "label", "gt")
INDEX_COLUMNS = ("rel_path", "age_group", "label_status", "is_mask", "pair_id")
_MASK_SUFFIX = re.compile(r"([_-](mask|label|seg|gt))$", re.IGNORECASE)


def _age_dirs(root: Path) -> dict[str, Path]:
    return {AGE_NAMES[d.name.lower()]: d for d in subdirs(root) if d.name.lower() in AGE_NAMES}


def _label_dirs(age_dir: Path) -> dict[str, Path]:
    return {LABEL_NAMES[d.name.lower()]: d for d in subdirs(age_dir) if d.name.lower() in LABEL_NAMES}


def _child(folder: Path, names: tuple[str, ...]) -> Path | None:
    for d in subdirs(folder):
        if d.name.lower() in names:
            return d
    return None


def find_tree_root(root: Path, depth: int = 3) -> Path | None:
    """The folder (at most ``depth`` levels down) that holds the age-group folders."""
    if any(_label_dirs(d) for d in _age_dirs(root).values()):
        return root
    if depth == 0:
        return None
    for d in subdirs(root):
        found = find_tree_root(d, depth - 1)
        if found is not None:
            return found
    return None


def detect(root: Path) -> bool:
    return find_tree_root(root) is not None


def pair_id(stem: str) -> str:
    return _MASK_SUFFIX.sub("", stem)


def build(root: Path) -> SampleIndex:
    tree = find_tree_root(root)
    assert tree is not None, "build() called on a folder detect() rejected"
    csv_path = next((p for p in sorted(tree.glob("*.csv")) if _is_index_csv(p)), None)
    samples = _from_csv(tree, csv_path) if csv_path else _from_walk(tree)
    return SampleIndex(root, "sts2d", samples, meta={"tree_root": str(tree),
                                                      "index_csv": str(csv_path) if csv_path else ""})


def _from_walk(tree: Path) -> list[Sample]:
    samples: list[Sample] = []
    for age, age_dir in sorted(_age_dirs(tree).items()):
        for label_status, label_dir in sorted(_label_dirs(age_dir).items()):
            images_dir = _child(label_dir, IMAGE_NAMES) or label_dir
            masks_dir = _child(label_dir, MASK_NAMES)
            masks = {pair_id(m.stem): m for m in list_images(masks_dir)} if masks_dir else {}
            for img in list_images(images_dir):
                pid = pair_id(img.stem)
                mask = masks.get(pid)
                samples.append(_sample(age, label_status, pid, img, mask))
    return samples


def _sample(age: str, label_status: str, pid: str, img: Path, mask: Path | None) -> Sample:
    return Sample(id=f"{age}/{label_status}/{pid}", image=img, mask=mask, group=f"{age}/{pid}",
                  status="labeled" if mask is not None else "unlabeled",
                  meta={"age_group": age, "label_status": label_status, "pair_id": pid})


def _is_index_csv(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:  # the header only: a body that is not UTF-8 is reported by _from_csv
            first = fh.readline(65536).decode("utf-8", errors="replace")
    except OSError:
        return False
    header = next(csv.reader([first]), [])
    return all(col in header for col in INDEX_COLUMNS)


_TRUE, _FALSE = ("1", "true", "yes"), ("0", "false", "no", "")


def _from_csv(tree: Path, csv_path: Path) -> list[Sample]:
    """Samples listed by the index CSV; a row that is incomplete, names a file outside the tree or a
    missing file makes the whole CSV refused with its line number (LayoutError), nothing is guessed."""
    images: dict[tuple[str, str, str], Path] = {}
    masks: dict[tuple[str, str, str], Path] = {}
    name = csv_path.name
    inside = tree.resolve()
    try:
        with open(csv_path, newline="", encoding="utf-8") as fh:
            for line, row in enumerate(csv.DictReader(fh), start=2):
                values = {col: (row.get(col) or "").strip() for col in INDEX_COLUMNS}
                missing = [col for col in ("rel_path", "age_group", "label_status", "pair_id") if not values[col]]
                if missing or None in row:
                    what = f"no {', '.join(missing)}" if missing else "more fields than columns"
                    raise LayoutError(f"{name} line {line}: {what}")
                flag = values["is_mask"].lower()
                if flag not in _TRUE + _FALSE:
                    raise LayoutError(f"{name} line {line}: is_mask must be 0 or 1, found {values['is_mask']!r}")
                path = tree / values["rel_path"]
                if inside not in path.resolve().parents:
                    raise LayoutError(f"{name} line {line}: {values['rel_path']!r} lies outside the dataset tree")
                if not path.is_file():
                    raise LayoutError(f"{name} line {line}: {values['rel_path']!r} not found")
                key = (values["age_group"], values["label_status"], values["pair_id"])
                (masks if flag in _TRUE else images)[key] = path
    except UnicodeDecodeError as exc:
        raise LayoutError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except (OSError, csv.Error) as exc:
        raise LayoutError(f"{name}: unreadable index CSV ({exc})") from exc
    if not images:
        raise LayoutError(f"{name} lists no images; remove it to index the folders instead")
    return [_sample(age, status, pid, img, masks.get((age, status, pid)))
            for (age, status, pid), img in images.items()]


LAYOUT = register_layout(Layout(
    "sts2d", "STS-2D-Tooth tree: adult|children / labeled|unlabeled / images|masks", detect, build))
