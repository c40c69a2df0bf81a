"""Ruler and areas in millimetres on a real panoramic saved as DICOM with ImagerPixelSpacing; plain
PNG / JPEG files measure in pixels and say why."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

from core.data.spacing import length, pixel_spacing

SPACING = (0.1, 0.12)     # mm per row, per column


def write_dicom(image: np.ndarray, path, spacing=SPACING) -> None:
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"      # digital X-ray
    meta.MediaStorageSOPInstanceUID = generate_uid()
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.Rows, ds.Columns = image.shape
    ds.SamplesPerPixel, ds.BitsAllocated, ds.BitsStored, ds.HighBit = 1, 8, 8, 7
    ds.PixelRepresentation = 0
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.ImagerPixelSpacing = [str(spacing[0]), str(spacing[1])]
    ds.PixelData = image.astype(np.uint8).tobytes()
    ds.save_as(path, enforce_file_format=True)


@pytest.fixture
def dicom_teeth(shared_data, tmp_path):
    src = shared_data / "ufba425_teeth"
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    image = cv2.imread(str(src / "images" / "cate1-00002.jpg"), cv2.IMREAD_GRAYSCALE)
    write_dicom(image, tmp_path / "images" / "cate1-00002.dcm")
    shutil.copy(src / "masks" / "cate1-00002.png", tmp_path / "masks")
    return tmp_path


def test_spacing_from_dicom_only(dicom_teeth, shared_data):
    assert pixel_spacing(dicom_teeth / "images" / "cate1-00002.dcm") == pytest.approx(SPACING)
    assert pixel_spacing(shared_data / "ufba425_teeth" / "images" / "cate1-00002.jpg") is None
    px, mm = length((0, 0), (30, 40), SPACING)
    assert px == 50 and mm == pytest.approx(np.hypot(30 * 0.12, 40 * 0.1))


def test_ruler_and_instance_areas_in_mm(window, dicom_teeth, qtbot, tmp_path):
    w = window
    assert w.open_folder(dicom_teeth)
    qtbot.waitUntil(lambda: w.measurements.spacing is not None, timeout=10000)
    messages = []
    w.tools.message.connect(messages.append)
    w.set_tool("ruler")
    w.tools.press(100, 100)
    w.tools.move(130, 140)
    w.tools.release(130, 140)
    assert messages[-1].startswith(f"Length {np.hypot(30 * 0.12, 40 * 0.1):.2f} mm (50.0 px)")
    assert not w.canvas.outline_item.path().isEmpty()                  # the measured line stays drawn
    qtbot.waitUntil(lambda: len(w.instance_list.items) > 20, timeout=5000)
    row = 0
    item = w.instance_list.items[row]
    assert w.instance_list.panel.table.item(row, 3).text() == f"{item.area:,} ({item.area * 0.012:.1f} mm²)"
    w.set_tool("brush")
    assert w.canvas.outline_item.path().isEmpty()


def test_ruler_in_pixels_without_spacing(window, thyroid_copy):
    w = window
    assert w.open_folder(thyroid_copy)
    messages = []
    w.tools.message.connect(messages.append)
    w.actions["ruler"].trigger()
    w.tools.press(10, 10)
    w.tools.release(10, 20)
    assert messages[-1] == "Length 10.0 px (no pixel spacing in this file)"
    assert w.tools.tool == "ruler" and w.actions["ruler"].isChecked()

