"""Instances against UFBA-425's exact per-tooth masks; COCO round trips and mAP; nnU-Net hand-off."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest

from core.data.layouts import load_index
from core.data.masks import load_mask
from core.data.project import Project
from core.interop.coco import coco_map, encode_segmentation
from core.interop.instances import instances_from_labels, labels_from_instances, relabel_instance
from tests.core.helpers import copy_pairs
from training.cli import main

STEMS = ["cate1-00002", "cate2-00107", "cate8-00116"]


def _truth(shared_data, stem):
    d = np.load(shared_data / "ufba425_teeth/instances" / f"{stem}.npz")
    masks = np.unpackbits(d["masks"], axis=-1)[..., : int(d["shape"][2])].astype(bool)
    return [int(v) for v in d["fdi"]], masks


@pytest.mark.parametrize("stem", STEMS)
def test_instances_match_exact_tooth_masks(shared_data, stem):
    labels = cv2.imread(str(shared_data / "ufba425_teeth/masks" / f"{stem}.png"), cv2.IMREAD_UNCHANGED)
    fdi, masks = _truth(shared_data, stem)
    found = instances_from_labels(labels, min_area=50)
    assert sorted({i.value for i in found}) == sorted(fdi)
    for value, truth in zip(fdi, masks, strict=True):
        main_part = max((i for i in found if i.value == value), key=lambda i: i.area)
        iou = (main_part.mask & truth).sum() / (main_part.mask | truth).sum()
        assert iou > 0.85, (value, iou)  # the label map gives overlaps to the higher FDI number
        x, y, w, h = main_part.bbox
        assert main_part.mask[y : y + h, x : x + w].sum() == main_part.area
    assert np.array_equal(labels_from_instances(found, labels.shape) > 0, labels > 0) or \
        np.mean((labels_from_instances(found, labels.shape) > 0) == (labels > 0)) > 0.999
    renumbered = relabel_instance(labels, found[0], 99)
    assert (renumbered == 99).sum() == found[0].area and (renumbered == found[0].value).sum() < (labels == found[0].value).sum()


def test_coco_map_against_exact_instances(shared_data):
    images, gt_anns, good, swapped = [], [], [], []
    for k, stem in enumerate(STEMS, start=1):
        fdi, masks = _truth(shared_data, stem)
        images.append({"id": k, "file_name": f"{stem}.jpg", "width": 512, "height": 512})
        for value, m in zip(fdi, masks, strict=True):
            gt_anns.append({"id": len(gt_anns) + 1, "image_id": k, "category_id": value, "iscrowd": 0,
                            "segmentation": encode_segmentation(m), "area": float(m.sum()),
                            "bbox": list(cv2.boundingRect(m.astype(np.uint8)))})
        labels = cv2.imread(str(shared_data / "ufba425_teeth/masks" / f"{stem}.png"), cv2.IMREAD_UNCHANGED)
        for inst in instances_from_labels(labels, min_area=50):
            det = {"image_id": k, "category_id": inst.value, "segmentation": encode_segmentation(inst.mask),
                   "score": 0.9}
            good.append(det)
            swapped.append(dict(det, category_id=11 + (inst.value - 11 + 1) % 8 + 10 * (inst.value // 10 - 1)))
    gt = {"images": images, "annotations": gt_anns,
          "categories": [{"id": q * 10 + t, "name": str(q * 10 + t)} for q in (1, 2, 3, 4) for t in range(1, 9)]}
    result = coco_map(gt, good)
    assert result["map50"] > 0.95 and result["map"] > 0.6 and result["mar100"] > 0.6
    assert len(result["per_class"]) == 32
    assert coco_map(gt, swapped)["map50"] < 0.2


@pytest.mark.parametrize("polygons", [False, True])
def test_coco_export_import_round_trip(shared_data, tmp_path, capsys, polygons):
    copy_pairs(shared_data, "ufba425_teeth", 3, tmp_path / "src")
    args = ["coco-export", str(tmp_path / "src"), "--out", str(tmp_path / "coco/annotations.json"), "--json"]
    assert main(args + (["--polygons"] if polygons else [])) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["images"] == 3 and summary["annotations"] >= 3 * 20 and summary["categories"] == 32
    # the exported file opens directly as a COCO-layout dataset, next to its images
    shutil.copytree(tmp_path / "src/images", tmp_path / "coco/images")
    coco_index = load_index(tmp_path / "coco")
    assert coco_index.layout == "coco"
    # and imports into a paired folder of label maps with the FDI classes
    assert main(["coco-import", str(tmp_path / "coco/annotations.json"), "--dest", str(tmp_path / "dest")]) == 0
    imported = load_index(tmp_path / "dest")
    assert imported.layout == "paired" and len(imported.labeled()) == 3
    assert [c.value for c in Project.open(tmp_path / "dest").classes][:2] == [11, 12]
    for s in load_index(tmp_path / "src"):
        original = load_mask(s)
        for back in (load_mask(coco_index[s.id]), load_mask(imported[s.id])):
            agree = np.mean(back == original)
            assert agree == 1.0 if not polygons else agree > 0.97


def test_coco_import_with_missing_image_writes_nothing(tmp_path, capsys):
    (tmp_path / "c.json").write_text(json.dumps({"images": [{"id": 1, "file_name": "gone.png", "width": 4,
                                                             "height": 4}], "annotations": [], "categories": []}))
    assert main(["coco-import", str(tmp_path / "c.json"), "--dest", str(tmp_path / "dest")]) == 2
    assert "not found" in capsys.readouterr().err and not (tmp_path / "dest").exists()


def test_nnunet_export_and_predictions_back(shared_data, tmp_path, capsys):
    stems = copy_pairs(shared_data, "ufba425_teeth", 5, tmp_path / "data")
    for stem in stems[3:]:  # two images become unlabeled
        (tmp_path / "data/masks" / f"{stem}.png").unlink()
    out = tmp_path / "nnUNet_raw" / "Dataset501_Teeth"
    assert main(["export-nnunet", "--data", str(tmp_path / "data"), "--out", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"out": str(out), "training": 3, "test": 2}
    ds = json.loads((out / "dataset.json").read_text())
    assert ds["channel_names"] == {"0": "X-ray"} and ds["numTraining"] == 3 and ds["file_ending"] == ".png"
    assert ds["labels"]["background"] == 0 and len(ds["labels"]) == 33
    assert sorted(p.name for p in (out / "imagesTr").iterdir())[0] == "Teeth_0001_0000.png"
    label = cv2.imread(str(out / "labelsTr/Teeth_0001.png"), cv2.IMREAD_UNCHANGED)
    assert label.max() <= 32 and len(np.unique(label)) > 20
    # a GPU server's predictions (contiguous labels) come back as FDI pseudo-labels
    pred = tmp_path / "pred"
    pred.mkdir()
    fdi = [q * 10 + t for q in (1, 2, 3, 4) for t in range(1, 9)]
    lut = np.zeros(256, np.uint8)
    lut[fdi] = np.arange(1, 33)
    truth = {}
    for case in ("Teeth_0004", "Teeth_0005"):
        stem = stems[int(case[-1]) - 1]
        truth[stem] = cv2.imread(str(shared_data / "ufba425_teeth/masks" / f"{stem}.png"), cv2.IMREAD_UNCHANGED)
        cv2.imwrite(str(pred / f"{case}.png"), lut[truth[stem]])
    assert main(["import-nnunet", "--pred", str(pred), "--export", str(out), "--data", str(tmp_path / "data")]) == 0
    project = Project.open(tmp_path / "data")
    index = project.apply(load_index(tmp_path / "data"))
    for stem, expected in truth.items():
        assert index[stem].status == "pseudo" and np.array_equal(load_mask(index[stem]), expected)
    assert main(["export-nnunet", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "bad_name")]) == 2
