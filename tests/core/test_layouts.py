"""Layout detection and indexing on the real datasets and on folders built from them."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest

from core.data.layouts import detect_layout, load_index
from core.data.masks import load_mask
from core.errors import LayoutError
from tests.core.helpers import copy_pairs, make_sts_tree


@pytest.mark.parametrize("dataset, images, labeled", [
    ("ufba425_teeth", 318, 318), ("tg3k_thyroid", 538, 538),
    ("mlua_panoramic_caries", 30, 30), ("isbi2012_em_membrane", 50, 20),
])
def test_real_datasets_are_indexed(shared_data, dataset, images, labeled):
    index = load_index(shared_data / dataset)
    assert index.layout == "paired"
    assert index.counts() == {"images": images, "labeled": labeled, "unlabeled": images - labeled}
    first = index.labeled()[0]
    assert first.mask.parent.name == "masks" and first.mask.stem == first.image.stem


def test_sts_tree_is_detected_with_either_naming(shared_data, tmp_path):
    make_sts_tree(shared_data, tmp_path / "a")
    index = load_index(tmp_path / "a")
    assert index.layout == "sts2d"
    assert index.counts() == {"images": 8, "labeled": 4, "unlabeled": 4}
    s = index["adult/labeled/A_L_000"]
    assert s.mask.name == "A_L_000_Mask.png" and s.meta["age_group"] == "adult"
    assert load_mask(s).max() >= 11  # the FDI label map came along
    make_sts_tree(shared_data, tmp_path / "b", names=("adult", "children"), labeled=("labeled", "unlabeled"),
                  kinds=("images", "masks"))
    assert load_index(tmp_path / "b").counts()["labeled"] == 4


def test_sts_index_csv_keeps_seed_columns_and_is_read_back(shared_data, tmp_path):
    tree = make_sts_tree(shared_data, tmp_path)
    index = load_index(tmp_path)
    text = index.to_csv()
    header = text.splitlines()[0].split(",")
    assert header[:5] == ["rel_path", "age_group", "label_status", "is_mask", "pair_id"]
    assert sum(1 for line in text.splitlines()[1:] if line.split(",")[3] == "1") == 4
    # an index CSV at the tree root (paths relative to it) is used instead of walking the tree
    rows = ["rel_path,age_group,label_status,is_mask,pair_id"]
    for s in index:
        rows.append(f"{s.image.relative_to(tree).as_posix()},{s.meta['age_group']},{s.meta['label_status']},0,"
                    f"{s.meta['pair_id']}")
    (tree / "index.csv").write_text("\n".join(rows[:3]) + "\n")
    assert len(load_index(tmp_path)) == 2


def test_suffix_layout(shared_data, tmp_path):
    src = shared_data / "isbi2012_em_membrane"
    for n in ("0", "1", "2"):
        shutil.copy(src / "images" / f"{n}.png", tmp_path / f"slice{n}.png")
    shutil.copy(src / "masks/0.png", tmp_path / "slice0_mask.png")
    shutil.copy(src / "masks/1.png", tmp_path / "slice1_seg.png")
    index = load_index(tmp_path)
    assert index.layout == "suffix"
    assert [s.mask.name if s.mask else None for s in index] == ["slice0_mask.png", "slice1_seg.png", None]


def test_unlabeled_folder_and_no_match_message(shared_data, tmp_path):
    for n in ("3", "4"):
        shutil.copy(shared_data / "isbi2012_em_membrane/unlabeled" / f"{n}.png", tmp_path / f"{n}.png")
    index = load_index(tmp_path)
    assert index.layout == "unlabeled" and index.counts()["unlabeled"] == 2
    empty = tmp_path / "empty"
    (empty / "notes").mkdir(parents=True)
    (empty / "readme.txt").write_text("no images here")
    with pytest.raises(LayoutError) as err:
        detect_layout(empty)
    for name in ("sts2d", "coco", "paired", "suffix", "unlabeled"):
        assert name in str(err.value)


def _coco_from_instances(shared_data, stem: str, use_rle: bool) -> dict:
    from pycocotools import mask as mask_utils

    data = np.load(shared_data / "ufba425_teeth/instances" / f"{stem}.npz")
    masks = np.unpackbits(data["masks"], axis=-1)[..., :512].astype(bool)
    anns = []
    for k, (fdi, m) in enumerate(zip(data["fdi"], masks, strict=True)):
        if use_rle:
            rle = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
            seg = {"size": rle["size"], "counts": rle["counts"].decode()}
        else:
            contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
            seg = [c.flatten().astype(float).tolist() for c in contours if len(c) >= 3]
        anns.append({"id": k + 1, "image_id": 1, "category_id": int(fdi), "segmentation": seg,
                     "area": float(m.sum()), "iscrowd": 0})
    return {"images": [{"id": 1, "file_name": f"{stem}.jpg", "width": 512, "height": 512}],
            "annotations": anns,
            "categories": [{"id": int(f), "name": str(f)} for f in sorted(set(data["fdi"].tolist()))]}


@pytest.mark.parametrize("use_rle", [True, False])
def test_coco_layout_rasterises_lazily(shared_data, tmp_path, use_rle):
    stem = "cate1-00002"
    (tmp_path / "images").mkdir()
    shutil.copy(shared_data / "ufba425_teeth/images" / f"{stem}.jpg", tmp_path / "images")
    (tmp_path / "annotations.json").write_text(json.dumps(_coco_from_instances(shared_data, stem, use_rle)))
    index = load_index(tmp_path)
    assert index.layout == "coco" and len(index) == 1 and len(index.meta["categories"]) > 20
    labels = load_mask(index[0])
    truth = cv2.imread(str(shared_data / "ufba425_teeth/masks" / f"{stem}.png"), cv2.IMREAD_UNCHANGED)
    assert labels.shape == truth.shape
    fg_agree = np.mean((labels > 0) == (truth > 0))
    assert fg_agree > (0.999 if use_rle else 0.98)  # polygons through pixel centres lose edge pixels
    same_tooth = np.mean(labels[truth > 0] == truth[truth > 0])
    assert same_tooth > 0.9  # overlaps are resolved differently (by area here, by FDI order there)


def test_paired_layout_with_masks_manual_and_orphans(shared_data, tmp_path):
    copy_pairs(shared_data, "tg3k_thyroid", 3, tmp_path, mask_ext=".jpg")
    (tmp_path / "masks").rename(tmp_path / "masks_manual")
    shutil.copy(shared_data / "tg3k_thyroid/masks/0026.jpg", tmp_path / "masks_manual" / "9999.jpg")
    index = load_index(tmp_path)
    assert index.layout == "paired" and index.counts()["labeled"] == 3
    assert [p.endswith("9999.jpg") for p in index.meta["orphan_masks"]] == [True]
