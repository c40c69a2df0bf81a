"""Reading images and masks in every supported format, and refusing bad input clearly."""

from __future__ import annotations

import errno
import os
import struct
import zlib

import cv2
import numpy as np
import pytest
import tifffile

from core.data import io as dio
from core.errors import ImageReadError, MaskError, ToothSegError


def _png_header_bomb(path, width=40000, height=40000):
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk + b"\x00" * 64)


def test_real_images_become_grayscale(shared_data):
    teeth = dio.read_image(shared_data / "ufba425_teeth/images/cate1-00002.jpg")  # RGB, identical channels
    assert teeth.shape == (512, 512) and teeth.dtype == np.uint8
    pano = dio.read_image(shared_data / "mlua_panoramic_caries/images/354.png")
    assert pano.shape == (1435, 2943)
    assert dio.image_size(shared_data / "mlua_panoramic_caries/images/354.png") == (2943, 1435)
    assert dio.image_size(shared_data / "tg3k_thyroid/images/0000.jpg") == (256, 256)


def test_mask_encodings_are_normalised(shared_data):
    fdi = dio.read_mask(shared_data / "ufba425_teeth/masks/cate1-00002.png")
    assert set(np.unique(fdi)) - {0} <= {q * 10 + t for q in (1, 2, 3, 4) for t in range(1, 9)}
    assert len(np.unique(fdi)) > 20
    thyroid, enc = dio.read_mask_with_encoding(shared_data / "tg3k_thyroid/masks/0000.jpg")
    assert set(np.unique(thyroid)) == {0, 1} and enc.kind == "jpeg255"
    caries, enc = dio.read_mask_with_encoding(shared_data / "mlua_panoramic_caries/masks/354.png")
    assert set(np.unique(caries)) <= {0, 1} and enc.kind == "binary255"


def test_sixteen_bit_and_multipage_tiff(tmp_path):
    page0 = (np.arange(64 * 48, dtype=np.uint16).reshape(48, 64) * 13)
    page1 = np.zeros((48, 64), np.uint16)
    tifffile.imwrite(tmp_path / "a.tif", np.stack([page0, page1]))
    img = dio.read_image(tmp_path / "a.tif")
    assert img.dtype == np.uint16 and np.array_equal(img, page0)
    cv2.imwrite(str(tmp_path / "b.png"), page0)
    assert np.array_equal(dio.read_image(tmp_path / "b.png"), page0)
    unit = dio.to_unit_float(img)
    assert unit.dtype == np.float32 and unit.min() == 0.0 and unit.max() == 1.0


def test_rgba_and_colour_images(tmp_path):
    rgba = np.zeros((10, 12, 4), np.uint8)
    rgba[..., :3] = 90
    rgba[..., 3] = 255
    cv2.imwrite(str(tmp_path / "rgba.png"), rgba)
    img = dio.read_image(tmp_path / "rgba.png")
    assert img.shape == (10, 12) and int(img[0, 0]) == 90
    colour = np.zeros((10, 12, 3), np.uint8)
    colour[..., 2] = 255  # pure red in BGR
    cv2.imwrite(str(tmp_path / "red.png"), colour)
    assert int(dio.read_image(tmp_path / "red.png")[0, 0]) == 76  # luminance of red


def test_cmyk_jpeg_is_read(tmp_path):
    from PIL import Image

    Image.new("CMYK", (20, 10), (0, 0, 0, 128)).save(tmp_path / "cmyk.jpg")
    img = dio.read_image(tmp_path / "cmyk.jpg")
    assert img.shape == (10, 20) and img.dtype == np.uint8


def test_dicom_rescale_window_and_monochrome1(tmp_path):
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    def make(name, photometric):
        meta = FileMetaDataset()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
        meta.MediaStorageSOPInstanceUID = generate_uid()
        ds = FileDataset(str(tmp_path / name), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.Rows, ds.Columns = 4, 5
        ds.SamplesPerPixel, ds.BitsAllocated, ds.BitsStored, ds.HighBit = 1, 16, 12, 11
        ds.PixelRepresentation = 0
        ds.PhotometricInterpretation = photometric
        ds.RescaleSlope, ds.RescaleIntercept = 2, -100
        ds.WindowCenter, ds.WindowWidth = 0, 200
        raw = np.array([[0, 50, 100, 150, 200]] * 4, np.uint16)  # -> -100, 0, 100, 200, 300
        ds.PixelData = raw.tobytes()
        ds.save_as(tmp_path / name, enforce_file_format=True)
        return tmp_path / name

    mono2 = dio.read_image(make("a.dcm", "MONOCHROME2"))
    assert mono2.dtype == np.float32
    assert np.allclose(mono2[0], [0.0, 0.5, 1.0, 1.0, 1.0])  # window [-100, 100]
    mono1 = dio.read_image(make("b.dcm", "MONOCHROME1"))
    assert np.allclose(mono1[0], [1.0, 0.5, 0.0, 0.0, 0.0])
    assert dio.image_size(tmp_path / "a.dcm") == (5, 4)


@pytest.mark.parametrize("maker, fragment", [
    (lambda p: p.write_bytes(b""), "empty file"),
    (lambda p: p.write_bytes(open(p.parent / "good.png", "rb").read()[:200]), "truncated PNG"),
    (lambda p: _png_header_bomb(p), "exceeds the limit"),
    (lambda p: p.write_bytes(b"this is not an image at all" * 10), "not a readable image"),
])
def test_bad_images_get_clear_messages(tmp_path, maker, fragment):
    good = np.random.default_rng(0).integers(0, 255, (300, 300), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "good.png"), good)
    bad = tmp_path / "bad.png"
    maker(bad)
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(ImageReadError, match=fragment):
        dio.read_image(bad)
    assert sorted(os.listdir(tmp_path)) == before


def test_header_bomb_is_refused_before_decoding(tmp_path, monkeypatch):
    _png_header_bomb(tmp_path / "bomb.png")
    monkeypatch.setattr(dio.cv2, "imdecode", lambda *a: pytest.fail("decoded a bomb"))
    with pytest.raises(ImageReadError, match="40000x40000"):
        dio.read_image(tmp_path / "bomb.png")


def test_mask_size_and_values(tmp_path):
    cv2.imwrite(str(tmp_path / "m.png"), np.zeros((10, 20), np.uint8))
    with pytest.raises(MaskError, match="mask is 20x10 but its image is 30x10"):
        dio.read_mask(tmp_path / "m.png", expected_size=(30, 10))
    cv2.imwrite(str(tmp_path / "big.png"), np.full((4, 4), 4000, np.uint16))
    with pytest.raises(MaskError, match="exceed 255"):
        dio.read_mask(tmp_path / "big.png")


def test_write_mask_round_trips_every_encoding(tmp_path, shared_data):
    labels, enc = dio.read_mask_with_encoding(shared_data / "tg3k_thyroid/masks/0000.jpg")
    dio.write_mask(tmp_path / "t.jpg", labels, enc)
    assert np.array_equal(dio.read_mask(tmp_path / "t.jpg"), labels)
    fdi, enc = dio.read_mask_with_encoding(shared_data / "ufba425_teeth/masks/cate1-00002.png")
    dio.write_mask(tmp_path / "f.png", fdi, enc)
    assert np.array_equal(cv2.imread(str(tmp_path / "f.png"), cv2.IMREAD_UNCHANGED), fdi)
    binary, enc = dio.read_mask_with_encoding(shared_data / "mlua_panoramic_caries/masks/354.png")
    dio.write_mask(tmp_path / "c.png", binary, enc)
    assert set(np.unique(cv2.imread(str(tmp_path / "c.png"), cv2.IMREAD_UNCHANGED))) <= {0, 255}


def test_failed_write_keeps_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "m.png"
    dio.write_mask(target, np.ones((5, 5), np.uint8))
    before = target.read_bytes()

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(ToothSegError, match="disk is full"):
        dio.write_mask(target, np.zeros((5, 5), np.uint8))
    assert target.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.png"]  # no temporary file left behind


def test_truncated_jpeg_is_refused(tmp_path, shared_data):
    data = (shared_data / "tg3k_thyroid/images/0000.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match="truncated JPEG"):
        dio.read_image(tmp_path / "cut.jpg")
