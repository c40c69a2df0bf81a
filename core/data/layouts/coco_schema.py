"""Type and range checks for a COCO file, run once when it is loaded.

A COCO JSON is often hand-edited or written by other tools; a ``"width": "a"`` or a category id of
300 must not reach rasterisation, splitting or export. The first wrong field is named in a
LayoutError (``annotations.json: images[3].width must be ...``), so every command and the GUI say the
same one line and nothing is written.
"""

from __future__ import annotations

from typing import Any

from core.errors import LayoutError

MAX_SIDE = 100_000


def validate_coco(data: Any, name: str) -> None:
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise LayoutError(f"{name}: not a COCO file (no 'images' list)")
    ids: dict = {}
    for i, im in enumerate(data["images"]):
        where = f"images[{i}]"
        if not isinstance(im, dict):
            _bad(name, where, "an object", im)
        if not _is_id(im.get("id")):
            _bad(name, f"{where}.id", "a whole number or text", im.get("id"))
        if im["id"] in ids:
            _bad(name, f"{where}.id", "unique (another image has it)", im["id"])
        ids[im["id"]] = im
        fname = im.get("file_name")
        if not isinstance(fname, str) or not fname.strip():
            _bad(name, f"{where}.file_name", "a file name", fname)
        parts = fname.replace("\\", "/").split("/")
        if fname.startswith(("/", "\\")) or ".." in parts or (len(fname) > 1 and fname[1] == ":"):
            _bad(name, f"{where}.file_name", "a path inside the dataset folder", fname)
        for key in ("width", "height"):
            v = im.get(key)
            if not _is_int(v) or not 0 < v <= MAX_SIDE:
                _bad(name, f"{where}.{key}", f"a whole number 1-{MAX_SIDE}", v)
    anns = data.get("annotations", [])
    if not isinstance(anns, list):
        _bad(name, "annotations", "a list", anns)
    for i, ann in enumerate(anns):
        where = f"annotations[{i}]"
        if not isinstance(ann, dict):
            _bad(name, where, "an object", ann)
        image_id = ann.get("image_id")
        if not _is_id(image_id):
            _bad(name, f"{where}.image_id", "a whole number or text", image_id)
        cat = ann.get("category_id")
        if not _is_int(cat) or not 0 < cat < 256:
            _bad(name, f"{where}.category_id", "a whole number 1-255 (it becomes the label value)", cat)
        if "area" in ann and not _is_number(ann["area"]):
            _bad(name, f"{where}.area", "a number", ann["area"])
        im = ids.get(image_id)  # an annotation of an image left out of the file is never drawn: no size to check
        size = [im["height"], im["width"]] if im is not None else None
        _check_segmentation(name, f"{where}.segmentation", ann.get("segmentation"), size)
    cats = data.get("categories", [])
    if not isinstance(cats, list):
        _bad(name, "categories", "a list", cats)
    for i, c in enumerate(cats):
        if not isinstance(c, dict):
            _bad(name, f"categories[{i}]", "an object", c)
        if not _is_int(c.get("id")) or not 0 < c["id"] < 256:
            _bad(name, f"categories[{i}].id", "a whole number 1-255", c.get("id"))


def _check_segmentation(name: str, where: str, seg: Any, image_size: list[int] | None) -> None:
    if seg is None or seg == [] or seg == {}:
        return
    if isinstance(seg, list):
        for k, poly in enumerate(seg):
            if not isinstance(poly, list) or not all(_is_number(v) for v in poly):
                _bad(name, f"{where}[{k}]", "a polygon (a list of numbers)", poly)
        return
    if isinstance(seg, dict):
        size, counts = seg.get("size"), seg.get("counts")
        if image_size is not None and size != image_size:
            _bad(name, f"{where}.size", f"the image's [height, width] {image_size}", size)
        if not (isinstance(size, list) and len(size) == 2 and all(_is_int(v) and 0 < v <= MAX_SIDE for v in size)):
            _bad(name, f"{where}.size", "[height, width]", size)
        if isinstance(counts, str) or (isinstance(counts, list) and all(_is_int(v) and v >= 0 for v in counts)):
            return
        _bad(name, f"{where}.counts", "an RLE (text or a list of run lengths)", counts)
    _bad(name, where, "polygons or an RLE", seg)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v and abs(v) != float("inf")


def _is_id(v: Any) -> bool:
    return _is_int(v) or (isinstance(v, str) and bool(v))


def _bad(name: str, field: str, expected: str, got: Any) -> None:
    shown = repr(got)
    shown = shown if len(shown) <= 40 else shown[:37] + "..."
    raise LayoutError(f"{name}: {field} must be {expected}, found {type(got).__name__} {shown}")
