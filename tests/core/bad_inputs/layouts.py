"""Broken dataset folders of the bad-input corpus: empty, missing, a file, symlink loops, dangling links,
duplicate names, odd STS-2D trees and CSVs; every dataset command refuses them in one line."""

from __future__ import annotations

import os
from pathlib import Path

from tests.core.bad_input_cases import FAIL, OK, Case, Inputs
from tests.core.bad_inputs.images import tiff

NO_IMAGES = {"predict": "no images found", "export": "no images found"}
LAYOUT_RUNS = {"check": FAIL, "stats": FAIL, "index": FAIL, "split": FAIL, "evaluate": FAIL,
               "finetune": FAIL, "coco-export": FAIL}


def layout_case(cid: str, build, says: str = "", runs: dict | None = None, **kw) -> Case:
    return Case(f"layout-{cid}", build, runs or LAYOUT_RUNS, says=says, **kw)


def _empty(root, env):
    return Inputs(data=root)


def _missing(root, env):
    return Inputs(data=root / "not-here")


def _a_file(root, env):
    (root / "data.png").write_bytes(env.png())
    return Inputs(data=root / "data.png")


def _only_text(root, env):
    (root / "notes.txt").write_text("x")
    (root / "README").write_text("y")
    return Inputs(data=root)


def _hidden_only(root, env):
    (root / ".a.png").write_bytes(env.png())
    return Inputs(data=root)


def _images_dir_empty(root, env):
    (root / "images").mkdir()
    (root / "masks").mkdir()
    (root / "masks" / "a.png").write_bytes(env.mask_png())
    return Inputs(data=root)


def _images_is_file(root, env):
    (root / "images").write_bytes(env.png())
    (root / "masks").mkdir()
    (root / "masks" / "a.png").write_bytes(env.mask_png())
    return Inputs(data=root)


def _dir_loop(root, env):
    """images/ is a symbolic link to itself (ELOOP on every access)."""
    (root / "masks").mkdir()
    (root / "masks" / "a.png").write_bytes(env.mask_png())
    os.symlink("images", root / "images")
    return Inputs(data=root)


def _self_loop_file(root, env):
    """A lone image that is a symbolic link to itself."""
    os.symlink("a.png", root / "a.png")
    return Inputs(data=root)


def _loop_in_images(root, env):
    """A good pair plus images/b.png -> b.png (a link loop) and images/sub -> .. (a folder cycle)."""
    env.good_pair(root, "a")
    os.symlink("b.png", root / "images" / "b.png")
    os.symlink("..", root / "images" / "sub")
    return Inputs(data=root, image=root / "images")


def _mutual_links(root, env):
    env.good_pair(root, "a")
    os.symlink("d.png", root / "images" / "c.png")
    os.symlink("c.png", root / "images" / "d.png")
    return Inputs(data=root, image=root / "images")


def _dangling(root, env):
    env.good_pair(root, "a")
    os.symlink("/nonexistent/x.png", root / "images" / "b.png")
    return Inputs(data=root, image=root / "images")


def _image_is_dir(root, env):
    env.good_pair(root, "a")
    (root / "images" / "b.png").mkdir()
    return Inputs(data=root, image=root / "images")


def _non_utf8_name(root, env):
    """A pair whose file name is not valid UTF-8 (bytes 0xff 0xfe), beside a good pair."""
    env.good_pair(root, "a")
    name = os.fsdecode(b"\xff\xfe.png")
    (root / "images" / name).write_bytes(env.png())
    (root / "masks" / name).write_bytes(env.mask_png())
    return Inputs(data=root, image=root / "images")


def _project_link_loop(root, env):
    env.good_dataset(root)
    (root / ".toothseg").mkdir()
    os.symlink("project.json", root / ".toothseg" / "project.json")
    return Inputs(data=root)


LOOP_RUNS = {"check": OK, "stats": OK, "index": OK, "predict": OK, "evaluate": OK, "split": OK}


def _dup_paired(root, env):
    env.good_pair(root, "a")
    (root / "images" / "a.jpg").write_bytes(env.jpg())
    return Inputs(data=root, image=root / "images")


def _dup_unlabeled(root, env):
    (root / "a.png").write_bytes(env.png())
    (root / "a.jpg").write_bytes(env.jpg())
    (root / "a.tif").write_bytes(tiff(env.image))
    return Inputs(data=root)


def _dup_suffix(root, env):
    (root / "a.png").write_bytes(env.png())
    (root / "a.jpg").write_bytes(env.jpg())
    (root / "a_mask.png").write_bytes(env.mask_png())
    return Inputs(data=root)


def _dup_unlabeled_dir(root, env):
    env.good_pair(root, "a")
    (root / "unlabeled").mkdir()
    (root / "unlabeled" / "a.png").write_bytes(env.png())
    (root / "unlabeled" / "a.jpg").write_bytes(env.jpg())
    return Inputs(data=root, image=root / "images")


def _dup_sts(root, env):
    d = root / "STS" / "A-PXI" / "Labeled"
    (d / "Image").mkdir(parents=True)
    (d / "Mask").mkdir()
    (d / "Image" / "1.png").write_bytes(env.png())
    (d / "Image" / "1.jpg").write_bytes(env.jpg())
    (d / "Mask" / "1_Mask.png").write_bytes(env.mask_png())
    return Inputs(data=root, image=d / "Image")


DUP_SAYS = {"check": "duplicate_name", "check-json": "duplicate_name"}
DUP_RUNS = {"check": OK, "check-json": OK, "stats": OK, "index": OK, "predict": OK, "evaluate": OK, "split": OK}


def _sts_tree(root, env) -> Path:
    d = root / "STS" / "A-PXI" / "Labeled"
    (d / "Image").mkdir(parents=True)
    (d / "Mask").mkdir()
    (d / "Image" / "1.png").write_bytes(env.png())
    (d / "Mask" / "1_Mask.png").write_bytes(env.mask_png())
    return root / "STS"


def _sts_csv(text: str):
    def build(root, env):
        tree = _sts_tree(root, env)
        (tree / "index.csv").write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
        return Inputs(data=root)
    return build


CSV_HEAD = "rel_path,age_group,label_status,is_mask,pair_id\n"

LAYOUT_CASES = [
    layout_case("empty-folder", _empty, says="no known dataset layout",
                runs={**LAYOUT_RUNS, "predict": FAIL, "export": FAIL}, says_by=NO_IMAGES),
    layout_case("missing-folder", _missing, says="not found", runs={**LAYOUT_RUNS, "predict": FAIL, "export": FAIL},
                says_by={"predict": "no such file"}),
    layout_case("path-is-a-file", _a_file, says="not a folder"),
    layout_case("only-text-files", _only_text, says="no known dataset layout", runs={**LAYOUT_RUNS, "predict": FAIL},
                says_by=NO_IMAGES),
    layout_case("hidden-images-only", _hidden_only, says="no known dataset layout"),
    layout_case("images-dir-empty", _images_dir_empty, says="no known dataset layout"),
    layout_case("images-is-a-file", _images_is_file, says="no known dataset layout"),
    layout_case("images-dir-symlink-loop", _dir_loop, says="images cannot be followed"),
    layout_case("image-file-self-loop", _self_loop_file, says="a.png cannot be followed",
                runs={**LAYOUT_RUNS, "predict": FAIL}, says_by=NO_IMAGES),
    layout_case("loops-beside-good-pair", _loop_in_images, runs=LOOP_RUNS),
    layout_case("mutual-links-beside-good-pair", _mutual_links, runs=LOOP_RUNS),
    layout_case("dangling-link-beside-good-pair", _dangling, runs=LOOP_RUNS),
    layout_case("image-named-folder", _image_is_dir, runs=LOOP_RUNS),
    layout_case("non-utf8-file-name", _non_utf8_name, runs={**LOOP_RUNS, "check-json": OK, "index-stdout": OK,
                                                            "coco-export": OK}),
    layout_case("project-json-link-loop", _project_link_loop, says="symbolic link", runs={**LAYOUT_RUNS,
                                                                                         "check-json": FAIL}),
    layout_case("duplicate-stems-paired", _dup_paired, runs=DUP_RUNS, says_by=DUP_SAYS),
    layout_case("duplicate-stems-unlabeled", _dup_unlabeled, runs={**DUP_RUNS, "evaluate": FAIL}, says="no labeled", says_by=DUP_SAYS),
    layout_case("duplicate-stems-suffix", _dup_suffix, runs=DUP_RUNS, says_by=DUP_SAYS),
    layout_case("duplicate-stems-unlabeled-dir", _dup_unlabeled_dir, runs=DUP_RUNS, says_by=DUP_SAYS),
    layout_case("duplicate-stems-sts", _dup_sts, runs=DUP_RUNS, says_by=DUP_SAYS),
    layout_case("sts-csv-missing-rows", _sts_csv(CSV_HEAD), says="index.csv"),
    layout_case("sts-csv-bad-columns", _sts_csv(CSV_HEAD + "Image/1.png,adult\n"), says="index.csv"),
    layout_case("sts-csv-path-outside", _sts_csv(CSV_HEAD + "../../../../etc/passwd,adult,labeled,0,1\n"),
                says="index.csv"),
    layout_case("sts-csv-missing-file", _sts_csv(CSV_HEAD + "A-PXI/Labeled/Image/9.png,adult,labeled,0,9\n"),
                says="index.csv"),
    layout_case("sts-csv-not-utf8", _sts_csv(CSV_HEAD.encode() + b"\xff\xfe\xfa,adult,labeled,0,1\n"),
                says="index.csv"),
    layout_case("sts-csv-is-mask-garbage",
                _sts_csv(CSV_HEAD + "A-PXI/Labeled/Mask/1_Mask.png,adult,labeled,maybe,1\n"), says="index.csv"),
    layout_case("sts-csv-duplicate-rows", _sts_csv(CSV_HEAD + "A-PXI/Labeled/Image/1.png,adult,labeled,0,1\n" * 2
                                                   + "A-PXI/Labeled/Mask/1_Mask.png,adult,labeled,1,1\n"),
                runs={"check": OK, "index": OK, "stats": OK, "split": OK}),
]
