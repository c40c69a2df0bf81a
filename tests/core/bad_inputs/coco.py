"""Damaged COCO ``annotations.json`` files of the bad-input corpus."""

from __future__ import annotations

import json
from pathlib import Path

from tests.core.bad_input_cases import FAIL, OK, Case, Inputs, write_json

COCO_RUNS = {"check": FAIL, "stats": FAIL, "index": FAIL, "split": FAIL, "evaluate": FAIL,
             "coco-import": FAIL, "coco-export": FAIL}
WITH_EXPORT = {**COCO_RUNS, "export": OK}  # export --images only needs the pictures: they are fine


def _coco_base(env) -> dict:
    h, w = env.mask.shape
    return {"images": [{"id": 1, "file_name": "a.png", "width": w, "height": h}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "area": 400.0, "iscrowd": 0,
                             "bbox": [10, 10, 20, 20], "segmentation": [[10, 10, 30, 10, 30, 30, 10, 30]]}],
            "categories": [{"id": 1, "name": "thyroid"}]}


def coco_case(cid: str, change, says: str = "annotations.json", runs: dict | None = None) -> Case:
    """A COCO folder (``images/a.png`` + ``annotations.json``) after ``change(data, env)``."""

    def build(root: Path, env) -> Inputs:
        (root / "images").mkdir()
        (root / "images" / "a.png").write_bytes(env.png())
        data = _coco_base(env)
        out = change(data, env)
        path = root / "annotations.json"
        if isinstance(out, (str, bytes)):
            path.write_bytes(out.encode() if isinstance(out, str) else out)
        else:
            write_json(path, data)
        return Inputs(data=root, coco=path, image=root)

    return Case(f"coco-{cid}", build, runs or COCO_RUNS, says=says)


def _set(path: str, value):
    def change(data, env):
        keys = path.split(".")
        obj = data
        for k in keys[:-1]:
            obj = obj[int(k)] if k.isdigit() else obj[k]
        last = keys[-1]
        if last.isdigit():
            obj[int(last)] = value
        else:
            obj[last] = value
    return change


def _delete(path: str):
    def change(data, env):
        head, _, last = path.rpartition(".")
        obj = data
        for k in head.split("."):
            obj = obj[int(k)] if k.isdigit() else obj[k]
        del obj[last]
    return change


COCO_CASES = [
    coco_case("width-string", _set("images.0.width", "a"), runs=WITH_EXPORT),
    coco_case("height-negative", _set("images.0.height", -5)),
    coco_case("width-zero", _set("images.0.width", 0)),
    coco_case("width-huge", _set("images.0.width", 10 ** 9)),
    coco_case("width-float", _set("images.0.width", 256.5)),
    coco_case("images-not-list", _set("images", {"a": 1})),
    coco_case("image-entry-string", _set("images.0", "a.png")),
    coco_case("file-name-missing", _delete("images.0.file_name")),
    coco_case("file-name-int", _set("images.0.file_name", 7)),
    coco_case("file-name-traversal", _set("images.0.file_name", "../../../../etc/passwd")),
    coco_case("file-name-absolute", _set("images.0.file_name", "/etc/passwd")),
    coco_case("id-missing", _delete("images.0.id")),
    coco_case("id-list", _set("images.0.id", [1])),
    coco_case("duplicate-image-ids", lambda d, e: d["images"].append(dict(d["images"][0], file_name="b.png"))),
    coco_case("annotations-not-list", _set("annotations", "none")),
    coco_case("annotation-entry-int", _set("annotations.0", 3)),
    coco_case("category-id-string", _set("annotations.0.category_id", "x")),
    coco_case("category-id-300", _set("annotations.0.category_id", 300), runs=WITH_EXPORT),
    coco_case("segmentation-string", _set("annotations.0.segmentation", "abc")),
    coco_case("segmentation-polygon-strings", _set("annotations.0.segmentation", [["a", "b", "c", "d", "e", "f"]])),
    coco_case("segmentation-rle-bad-counts", _set("annotations.0.segmentation", {"size": [256, 256], "counts": 5})),
    coco_case("segmentation-rle-wrong-size", _set("annotations.0.segmentation",
                                                  {"size": [10, 10], "counts": [0, 100]})),
    coco_case("area-string", _set("annotations.0.area", "big")),
    coco_case("categories-not-list", _set("categories", 5)),
    coco_case("category-id-letters", _set("categories.0.id", "a")),
    coco_case("annotation-of-missing-image", _set("annotations.0.image_id", 99), says="",
              runs={"check": OK, "stats": OK, "index": OK, "evaluate": OK, "split": OK}),
    coco_case("truncated-json", lambda d, e: json.dumps(d)[:60]),
    coco_case("not-utf8-json", lambda d, e: b'{"images": [\xff\xfe]}'),
]
