"""The bad-input corpus (issue 18): every case through every command that takes it.

Each case is one bad input built from a real tg3k frame in a tmp folder (``bad_input_cases`` says
how the runs are checked). Image and mask cases hold one sample, so a command that needs the bad
part has nothing else to fall back on; commands that never decode it (``index``, ``split``) must
still succeed. Layout cases break the folder itself: every dataset command refuses it in one line.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import struct
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile

from tests.core.bad_input_cases import (  # noqa: F401  (corpus_env is a fixture)
    FAIL,
    OK,
    REPORT,
    Case,
    Inputs,
    case_ids,
    corpus_env,
    run_case,
    run_process,
    write_json,
)

# ----------------------------------------------------------------------------------------- images

IMAGE_RUNS = {"check": REPORT, "check-json": REPORT, "stats": OK, "index": OK, "predict": FAIL, "evaluate": FAIL,
              "export": FAIL, "split": OK}
READABLE_RUNS = {"check": OK, "stats": OK, "index": OK, "predict": OK, "evaluate": OK, "split": OK}


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_header_only(w: int, h: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IEND", b"")


def _flip(data: bytes, at: float, n: int = 16) -> bytes:
    b = bytearray(data)
    start = int(len(b) * at)
    for k in range(start, min(start + n, len(b))):
        b[k] ^= 0x5A
    return bytes(b)


def _png_broken_stream(data: bytes) -> bytes:
    """A crafted PNG: IDAT bytes scrambled and its checksum recomputed, so only zlib notices."""
    b = bytearray(data)
    i = b.find(b"IDAT")
    n = struct.unpack(">I", b[i - 4:i])[0]
    for k in range(20, 60):
        b[i + 4 + k] ^= 0x5A
    b[i + 4 + n:i + 8 + n] = struct.pack(">I", zlib.crc32(bytes(b[i:i + 4 + n])))
    return bytes(b)


def _jpeg_sof(data: bytes, w: int, h: int) -> bytes:
    """The JPEG with its frame header declaring ``w`` x ``h``."""
    b = bytearray(data)
    i = 2
    while b[i + 1] not in (0xC0, 0xC1, 0xC2):
        i += 2 + struct.unpack(">H", b[i + 2:i + 4])[0]
    b[i + 5:i + 9] = struct.pack(">HH", h, w)
    return bytes(b)


def _bmp_dims(data: bytes, w: int, h: int) -> bytes:
    b = bytearray(data)
    b[18:26] = struct.pack("<ii", w, h)
    return bytes(b)


def _tiff(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    tifffile.imwrite(buf, arr)
    return buf.getvalue()


def _tiff_header_only(w: int, h: int) -> bytes:
    """A little-endian TIFF whose one strip is 16 bytes but whose tags declare ``w`` x ``h`` pixels."""
    tags = [(256, 4, w), (257, 4, h), (258, 3, 8), (259, 3, 1), (262, 3, 1), (273, 4, 8 + 2 + 8 * 12 + 4),
            (277, 3, 1), (278, 4, h), (279, 4, 16)]
    ifd = struct.pack("<H", len(tags)) + b"".join(
        struct.pack("<HHI", tag, kind, 1) + (struct.pack("<HH", v, 0) if kind == 3 else struct.pack("<I", v))
        for tag, kind, v in tags) + struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + b"\x00" * 16


def _float_img(env, fill=None, dtype=np.float32) -> np.ndarray:
    arr = env.image.astype(dtype) / 255.0
    if fill is not None:
        arr[100:140, 100:140] = fill
    return arr


def _dicom(env, rows: int | None = None, cols: int | None = None, pixels: bytes | None = None,
           with_pixels: bool = True) -> bytes:
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset("x.dcm", {}, file_meta=meta, preamble=b"\0" * 128)
    img = env.image
    ds.Rows, ds.Columns = rows or img.shape[0], cols or img.shape[1]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    if with_pixels:
        ds.PixelData = img.tobytes() if pixels is None else pixels
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def image_case(cid: str, name: str, make, says: str = "", runs: dict | None = None, **kw) -> Case:
    """One sample: a bad image ``name`` (bytes from ``make(env)``) with a good mask."""

    def build(root: Path, env) -> Inputs:
        env.paired(root, name, make(env))
        return Inputs(data=root, image=root / "images")

    return Case(f"image-{cid}", build, runs or IMAGE_RUNS, says=says or name, **kw)


IMAGE_CASES = [
    image_case("png-truncated-half", "a.png", lambda e: e.png()[: len(e.png()) // 2]),
    image_case("png-truncated-header", "a.png", lambda e: e.png()[:33]),
    image_case("png-signature-only", "a.png", lambda e: e.png()[:8]),
    image_case("png-zero-bytes", "a.png", lambda e: b""),
    image_case("png-bitflip-idat", "a.png", lambda e: _flip(e.png(), 0.5)),
    image_case("png-no-iend", "a.png", lambda e: e.png()[:-12]),
    image_case("png-huge-dims", "a.png", lambda e: _png_header_only(40000, 40000)),
    image_case("png-zero-dims", "a.png", lambda e: _png_header_only(0, 0)),
    image_case("png-garbage-after-signature", "a.png", lambda e: e.png()[:8] + os.urandom(500)),
    image_case("text-named-png", "a.png", lambda e: b"this is not an image\n" * 20),
    image_case("html-named-jpg", "a.jpg", lambda e: b"<html><body>404 not found</body></html>\n"),
    image_case("zip-named-tif", "a.tif", lambda e: b"PK\x03\x04" + os.urandom(300)),
    image_case("jpg-truncated-half", "a.jpg", lambda e: e.jpg()[: len(e.jpg()) // 2]),
    image_case("jpg-zero-bytes", "a.jpg", lambda e: b""),
    image_case("jpg-soi-only", "a.jpg", lambda e: b"\xff\xd8"),
    image_case("jpg-header-only", "a.jpg", lambda e: e.jpg()[:400]),
    image_case("jpg-huge-dims", "a.jpg", lambda e: _jpeg_sof(e.jpg(), 65000, 65000)),
    image_case("jpg-zero-dims", "a.jpg", lambda e: _jpeg_sof(e.jpg(), 0, 0)),
    image_case("jpg-garbage-after-soi", "a.jpg", lambda e: b"\xff\xd8" + os.urandom(800) + b"\xff\xd9"),
    image_case("bmp-truncated", "a.bmp", lambda e: e.bmp()[:300]),
    image_case("bmp-huge-dims", "a.bmp", lambda e: _bmp_dims(e.bmp(), 50000, 50000)),
    image_case("bmp-zero-dims", "a.bmp", lambda e: _bmp_dims(e.bmp(), 0, 0)),
    image_case("bmp-text", "a.bmp", lambda e: b"BM not really a bitmap"),
    image_case("tif-zero-bytes", "a.tif", lambda e: b""),
    image_case("tif-truncated", "a.tif", lambda e: _tiff(e.image)[:200]),
    image_case("tif-garbage-after-header", "a.tif", lambda e: b"II*\x00" + os.urandom(400)),
    image_case("tif-float-nan", "a.tif", lambda e: _tiff(_float_img(e, np.nan)), says="nan"),
    image_case("tif-float-inf", "a.tif", lambda e: _tiff(_float_img(e, np.inf)), says="inf"),
    image_case("tif-float64-nan", "a.tiff", lambda e: _tiff(_float_img(e, np.nan, np.float64)), says="nan"),
    image_case("tif-all-nan", "a.tif", lambda e: _tiff(np.full((64, 64), np.nan, np.float32)), says="nan"),
    image_case("tif-int32-negative", "a.tif", lambda e: _tiff(e.image.astype(np.int32) - 1000)),
    image_case("tif-complex", "a.tif", lambda e: _tiff(e.image.astype(np.complex64))),
    image_case("tif-huge-dims", "a.tif", lambda e: _tiff_header_only(60000, 60000)),
    image_case("dcm-garbage", "a.dcm", lambda e: os.urandom(700)),
    image_case("dcm-zero-bytes", "a.dcm", lambda e: b""),
    image_case("dcm-preamble-only", "a.dcm", lambda e: b"\0" * 128 + b"DICM"),
    image_case("dcm-no-pixel-data", "a.dcm", lambda e: _dicom(e, with_pixels=False)),
    image_case("dcm-huge-dims", "a.dcm", lambda e: _dicom(e, 60000, 60000, pixels=b"\0" * 64)),
    image_case("dcm-truncated-pixels", "a.dcm", lambda e: _dicom(e, pixels=e.image.tobytes()[:1000])),
    image_case("dicm-magic-in-png", "a.png", lambda e: b"\0" * 128 + b"DICM" + os.urandom(200)),
    image_case("png-valid-crc-broken-stream", "a.png", lambda e: _png_broken_stream(e.png())),
    # decodable though damaged (libjpeg warns on stderr, which must stay quiet)
    image_case("jpg-cut-then-eoi", "a.jpg", lambda e: e.jpg()[: len(e.jpg()) // 2] + b"\xff\xd9",
               runs=READABLE_RUNS),
    image_case("jpg-bitflips-in-scan", "a.jpg", lambda e: _flip(e.jpg(), 0.7, 6), runs=READABLE_RUNS),
    # readable despite the surprise: content decides, not the extension
    image_case("jpeg-named-png", "a.png", lambda e: e.jpg(), runs=READABLE_RUNS),
    image_case("png-named-jpg", "a.jpg", lambda e: e.png(), runs=READABLE_RUNS),
    image_case("png-16bit", "a.png", lambda e: e.png(e.image.astype(np.uint16) * 257), runs=READABLE_RUNS),
    image_case("tif-float-unit", "a.tif", lambda e: _tiff(_float_img(e)), runs=READABLE_RUNS),
    image_case("dcm-valid", "a.dcm", lambda e: _dicom(e), runs=READABLE_RUNS),
]

# ----------------------------------------------------------------------------------------- masks

MASK_RUNS = {"check": REPORT, "stats": OK, "index": OK, "evaluate": FAIL, "split": OK}


def mask_case(cid: str, name: str, make, says: str = "", runs: dict | None = None, **kw) -> Case:
    """One sample: a good image ``a.png`` with the bad mask ``name`` (bytes from ``make(env)``); ``stats``
    must say it left an unreadable mask out."""

    def build(root: Path, env) -> Inputs:
        env.paired(root, "a.png", None, name, make(env))
        return Inputs(data=root, image=root / "images")

    kw.setdefault("says_by", {"stats": "1 unreadable mask"})
    return Case(f"mask-{cid}", build, runs or MASK_RUNS, says=says or name, **kw)


def _stray(root: Path, env) -> Inputs:
    """Two clean 0/255 masks and one with a stray 128 square (a leftover of anti-aliased painting)."""
    env.good_dataset(root)
    m = env.mask.copy()
    m[:10, :10] = 128
    env.paired(root, "a.png", None, "a.png", env.mask_png(m))
    return Inputs(data=root, image=root / "images")


MASK_CASES = [
    mask_case("wrong-size", "a.png", lambda e: e.mask_png(e.mask[:100, :120]), says="120x100", says_by={}),
    mask_case("truncated", "a.png", lambda e: e.mask_png()[:60]),
    mask_case("zero-bytes", "a.png", lambda e: b""),
    mask_case("text", "a.png", lambda e: b"not a mask"),
    mask_case("16bit-values", "a.png", lambda e: e.png(e.mask.astype(np.uint16) * 4), says="exceed 255"),
    mask_case("float-nan", "a.tif", lambda e: _tiff(_float_img(e, np.nan)), says="nan"),
    mask_case("huge-dims", "a.png", lambda e: _png_header_only(40000, 40000)),
    mask_case("bitflip", "a.png", lambda e: _flip(e.mask_png(), 0.6)),
    Case("mask-stray-value", _stray, {"check": REPORT, "stats": OK, "index": OK, "evaluate": OK, "split": OK},
         says="unexpected_values"),
    mask_case("empty", "a.png", lambda e: e.mask_png(np.zeros_like(e.mask)), says="empty_mask",
              runs={"check": OK, "stats": OK, "index": OK, "split": OK}, says_by={"check": "empty_mask"}),
]

# ----------------------------------------------------------------------------------------- layouts

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
    (root / "a.tif").write_bytes(_tiff(env.image))
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

# ----------------------------------------------------------------------------------------- project.json

PROJECT_RUNS = {"check": FAIL, "check-json": FAIL, "stats": FAIL, "index": FAIL, "split": FAIL, "evaluate": FAIL,
                "finetune": FAIL, "coco-export": FAIL}


def project_case(cid: str, content, says: str = "project") -> Case:
    def build(root: Path, env) -> Inputs:
        env.good_dataset(root)
        path = root / ".toothseg" / "project.json"
        if isinstance(content, bytes):
            path.parent.mkdir(parents=True)
            path.write_bytes(content)
        elif content == "DIR":
            path.mkdir(parents=True)
        else:
            base = {"format": "toothseg-project", "version": 1}
            write_json(path, content if isinstance(content, str) else {**base, **content})
        return Inputs(data=root)

    return Case(f"project-{cid}", build, PROJECT_RUNS, says=says)


PROJECT_CASES = [
    project_case("broken-json", "{broken"),
    project_case("zero-bytes", b""),
    project_case("not-utf8", b"\xff\xfe{\x00"),
    project_case("top-level-list", "[1, 2, 3]"),
    project_case("wrong-format", {"format": "something-else"}),
    project_case("version-string", {"version": "abc"}),
    project_case("version-newer", {"version": 99}, says="newer"),
    project_case("splits-list", {"splits": [1, 2]}, says="splits"),
    project_case("splits-bad-value", {"splits": {"good0": "holdout"}}, says="splits"),
    project_case("splits-value-object", {"splits": {"good0": {"x": 1}}}, says="splits"),
    project_case("status-list", {"status": ["labeled"]}, says="status"),
    project_case("status-bad-value", {"status": {"good0": 5}}, says="status"),
    project_case("classes-string", {"classes": "teeth"}, says="classes"),
    project_case("classes-ints", {"classes": [1, 2]}, says="classes"),
    project_case("classes-bad-value", {"classes": [{"value": 300, "name": "x", "color": "#ff0000"}]}, says="classes"),
    project_case("classes-bad-colour", {"classes": [{"value": 1, "name": "x", "color": 12}]}, says="classes"),
    project_case("models-dict", {"models": {"a": 1}}, says="models"),
    project_case("models-unknown-key", {"models": [{"name": "m", "path": "p", "mode": "f", "created": "",
                                                    "evil": 1}]}, says="models"),
    project_case("active-model-object", {"active_model": {"x": 1}}, says="active_model"),
    project_case("split-seed-string", {"split_seed": "seven"}, says="split_seed"),
    project_case("extra-list", {"extra": [1]}, says="extra"),
    project_case("deep-nesting", '{"format": "toothseg-project", "version": 1, "extra": ' + "[" * 100000
                 + "]" * 100000 + "}"),
    project_case("is-a-folder", "DIR"),
]

# ----------------------------------------------------------------------------------------- COCO

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


# ----------------------------------------------------------------------------------------- zips (import-sts)

ZIP_RUNS = {"import-sts": FAIL}
STS = "SD-Tooth/STS-2D-Tooth/A-PXI/Labeled"


def _sts_members(env) -> dict[str, bytes]:
    return {f"{STS}/Image/1.png": env.png(), f"{STS}/Mask/1_Mask.png": env.mask_png()}


def _zip(members: dict[str, bytes], extra: list[tuple[zipfile.ZipInfo, bytes]] = (),
         method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Duplicate name": the duplicate is the point
        for name, blob in members.items():
            zf.writestr(name, blob)
        for info, blob in extra:
            zf.writestr(info, blob)
    return buf.getvalue()


def _info(name: str, mode: int = 0) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = mode << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def _encrypted_flag(data: bytes, name: bytes) -> bytes:
    """Set the 'encrypted' bit of entry ``name`` in the central directory (zipfile cannot write one)."""
    b = bytearray(data)
    pos = b.find(b"PK\x01\x02")
    while pos != -1:
        n = struct.unpack("<H", b[pos + 28:pos + 30])[0]
        if b[pos + 46:pos + 46 + n] == name:
            b[pos + 8] |= 1
        pos = b.find(b"PK\x01\x02", pos + 4)
    return bytes(b)


def _declared_size(data: bytes, size: int) -> bytes:
    """The zip with every central-directory entry claiming ``size`` uncompressed bytes (a lying header)."""
    b = bytearray(data)
    pos = b.find(b"PK\x01\x02")
    while pos != -1:
        b[pos + 24:pos + 28] = struct.pack("<I", min(size, 0xFFFFFFFE))
        pos = b.find(b"PK\x01\x02", pos + 4)
    return bytes(b)


def zip_case(cid: str, make, says: str, parts: dict[str, int] | None = None, runs: dict | None = None) -> Case:
    """A parts folder holding ``make(env)`` split into ``SD-Tooth.zip.NNN`` (``parts``: name -> share)."""

    def build(root: Path, env) -> Inputs:
        data = make(env)
        folder = root / "parts"
        folder.mkdir()
        names = parts or {"SD-Tooth.zip.001": 1}
        cut = 0
        for k, (name, share) in enumerate(names.items()):
            end = len(data) if k == len(names) - 1 else cut + len(data) * share // sum(names.values())
            (folder / name).write_bytes(data[cut:end])
            cut = end
        return Inputs(parts=folder)

    return Case(f"zip-{cid}", build, runs or ZIP_RUNS, says=says)


def _bomb(env) -> bytes:
    """A real bomb: 40 MiB of zeros deflate to ~40 KB (1000:1), beside a valid tree."""
    return _zip(_sts_members(env), [(_info(f"{STS}/Image/zeros.bmp"), bytes(40 << 20))])


def _many_small(env) -> bytes:
    """Overall ratio: 80 entries of 1 MiB zeros each (every entry under the per-entry floor)."""
    return _zip(_sts_members(env), [(_info(f"{STS}/pad/{k}.raw"), bytes(1 << 20)) for k in range(80)])


ZIP_CASES = [
    zip_case("not-a-zip", lambda e: os.urandom(3000), "not a readable zip"),
    zip_case("truncated", lambda e: _zip(_sts_members(e))[:-200], "not a readable zip"),
    zip_case("empty-zip", lambda e: _zip({}), "sts-2d-tooth tree"),
    zip_case("wrong-tree", lambda e: _zip({"photos/cat.png": e.png()}), "sts-2d-tooth tree"),
    zip_case("traversal", lambda e: _zip(_sts_members(e), [(_info("../evil.txt"), b"x")]), "'..'"),
    zip_case("nested-traversal", lambda e: _zip(_sts_members(e), [(_info("SD-Tooth/a/../../../evil.txt"), b"x")]),
             "'..'"),
    zip_case("absolute", lambda e: _zip(_sts_members(e), [(_info("/tmp/toothseg-evil.txt"), b"x")]), "absolute"),
    zip_case("drive-letter", lambda e: _zip(_sts_members(e), [(_info("C:/evil.txt"), b"x")]), "drive"),
    zip_case("symlink-entry", lambda e: _zip(_sts_members(e), [(_info("SD-Tooth/link", 0o120777), b"/etc")]),
             "symbolic link"),
    zip_case("encrypted-entry", lambda e: _encrypted_flag(_zip(_sts_members(e), [(_info("SD-Tooth/x.txt"), b"x")]),
                                                          b"SD-Tooth/x.txt"), "encrypted"),
    zip_case("backslash-traversal", lambda e: _zip(_sts_members(e), [(_info("SD-Tooth\\..\\..\\evil.txt"), b"x")]),
             "'..'"),
    zip_case("duplicate-entry", lambda e: _zip(_sts_members(e), [(_info(f"{STS}/Image/1.png"), e.png())]),
             "appears twice"),
    zip_case("bomb-entry", _bomb, "decompression bomb"),
    zip_case("bomb-overall", _many_small, "decompression bomb"),
    zip_case("lying-size-header", lambda e: _declared_size(_zip(_sts_members(e)), 3 << 30), "bomb"),
    zip_case("split-missing-first", lambda e: _zip(_sts_members(e)), "missing part",
             parts={"SD-Tooth.zip.002": 1}),
    zip_case("split-gap", lambda e: _zip(_sts_members(e)), "missing part",
             parts={"SD-Tooth.zip.001": 1, "SD-Tooth.zip.003": 1}),
    zip_case("split-swapped", lambda e: _zip(_sts_members(e), [(_info("SD-Tooth/pad.bin"), os.urandom(4000))],
                                            zipfile.ZIP_STORED)[::-1], "not a readable zip",
             parts={"SD-Tooth.zip.001": 1, "SD-Tooth.zip.002": 1}),
    zip_case("no-parts", lambda e: b"", "no split-zip parts", parts={"notes.txt": 1}),
    zip_case("bad-md5", lambda e: _zip(_sts_members(e)), "md5", runs={"import-sts-verify": FAIL}),
]


def _sums(case: Case, text: str) -> Case:
    build = case.build

    def with_sums(root: Path, env) -> Inputs:
        inputs = build(root, env)
        (inputs.parts / "md5sums.txt").write_text(text)
        return inputs

    case.build = with_sums
    return case


ZIP_CASES[-1] = _sums(ZIP_CASES[-1], "0123456789abcdef0123456789abcdef  SD-Tooth.zip.001\n")
ZIP_CASES.append(_sums(zip_case("md5-file-garbage", lambda e: _zip(_sts_members(e)), "no md5 sum",
                                runs={"import-sts-verify": FAIL}), "this is not a sums file\n\x00\xff"))

# ----------------------------------------------------------------------------------------- training

TRAIN_RUNS = {"check": REPORT, "finetune": FAIL}


def train_case(cid: str, image: tuple[str, object] | None = None, mask: tuple[str, object] | None = None,
               says: str = "bad.") -> Case:
    """Nine good pairs and one bad sample (``(name, make(env))`` for its image and/or mask): training
    must stop before its first step and name the file, not train on what it could read."""

    def build(root: Path, env) -> Inputs:
        env.good_dataset(root, 9)  # ten samples: the seeded split has a validation image
        img_name, make_img = image or ("bad.png", None)
        mask_name, make_mask = mask or ("bad.png", None)
        env.paired(root, img_name, make_img(env) if make_img else None, mask_name,
                   make_mask(env) if make_mask else None)
        return Inputs(data=root)

    return Case(f"train-{cid}", build, TRAIN_RUNS, says=says)


def _pickle_bomb(marker: Path) -> bytes:
    import pickle

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    return pickle.dumps({"epoch": 1, "model": Evil()})


def resume_case(cid: str, sidecar, state: bytes | None, says: str) -> Case:
    """A RUN_DIR inside the input whose ``last.json`` (``sidecar(env, run)``) or ``last_state.pt`` is bad."""

    def build(root: Path, env) -> Inputs:
        data = env.good_dataset(root / "data", 3)
        run = root / "run"
        run.mkdir()
        if sidecar is not None:
            sidecar(env, run)
        if state is not None:
            (run / "last_state.pt").write_bytes(state if state != b"PICKLE" else _pickle_bomb(root / "PWNED"))
        return Inputs(data=data, run=run)

    return Case(f"resume-{cid}", build, {"finetune-resume": FAIL}, says=says)


def _good_last(env, run: Path) -> None:
    env.copy_checkpoint(run / "last")


TRAIN_CASES = [
    train_case("truncated-image", image=("bad.png", lambda e: e.png()[:300])),
    train_case("nan-tiff-image", image=("bad.tif", lambda e: _tiff(_float_img(e, np.nan))), says="nan"),
    train_case("zero-byte-mask", mask=("bad.png", lambda e: b"")),
    train_case("wrong-size-mask", mask=("bad.png", lambda e: e.mask_png(e.mask[:100, :120])), says="120x100"),
    train_case("dicom-garbage", image=("bad.dcm", lambda e: os.urandom(600))),
    resume_case("nothing-to-resume", None, None, "not found"),
    resume_case("sidecar-not-json", lambda e, r: (r / "last.json").write_text("{nope"), b"x", "last.json"),
    resume_case("sidecar-foreign", lambda e, r: write_json(r / "last.json", {"recipe": 5}), b"x", "last.json"),
    resume_case("state-garbage", _good_last, os.urandom(300), "last_state.pt"),
    resume_case("state-crafted-pickle", _good_last, b"PICKLE", "last_state.pt"),
]

ALL_CASES = IMAGE_CASES + MASK_CASES + LAYOUT_CASES + PROJECT_CASES + COCO_CASES + ZIP_CASES + TRAIN_CASES

# every other command that reads a dataset folder, on a few cases of each kind of broken folder
EVERY_DATASET_COMMAND = ("pretrain-mim", "pretrain-recon", "mean-teacher", "pseudo-label", "suggest", "export-nnunet")
for _case in ALL_CASES:
    if _case.id in ("layout-empty-folder", "layout-images-dir-symlink-loop", "project-splits-list",
                    "project-version-string", "coco-width-string", "coco-file-name-traversal",
                    "layout-sts-csv-path-outside"):
        _case.runs = {**_case.runs, **{command: FAIL for command in EVERY_DATASET_COMMAND}}  # not the shared dict

@pytest.mark.parametrize("case", [
    dataclasses.replace(next(c for c in ALL_CASES if c.id == "image-png-truncated-half"),
                        runs={"check": REPORT, "predict": FAIL}),
    dataclasses.replace(next(c for c in ALL_CASES if c.id == "project-splits-list"), runs={"split": FAIL}),
], ids=lambda c: c.id)
def test_bad_input_in_a_real_process(case, corpus_env, tmp_path):  # noqa: F811
    """The same promises from the real entry point: exit code and the process's whole stderr."""
    run_case(case, corpus_env, tmp_path, None, runner=run_process)


# ----------------------------------------------------------------------------------------- recovery journals

def journal_entry(header: dict | bytes, values: bytes | None = None, magic: bytes = b"TSJ1") -> bytes:
    """One raw journal entry (``core.data.recovery``'s format) with whatever header a test wants."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    if values is None and isinstance(header, dict) and isinstance(header.get("h"), int) \
            and isinstance(header.get("w"), int) and header["h"] > 0 and header["w"] > 0:
        values = bytes([1]) * (header["h"] * header["w"])
    return struct.pack("<4sI", magic, len(raw)) + raw + (values or b"")


def _entry(**change) -> dict:
    return {"id": "good0", "shape": [256, 256], "y0": 30, "x0": 40, "h": 4, "w": 5, **change}


# (case id, the bad entry's bytes, is the good entry written after it still restored?)
JOURNAL_CASES = [
    ("y0-out-of-range", journal_entry(_entry(y0=10000)), True),
    ("x0-out-of-range", journal_entry(_entry(x0=10000)), True),
    ("rectangle-past-the-edge", journal_entry(_entry(y0=254, h=10)), True),
    ("negative-y0", journal_entry(_entry(y0=-3)), True),
    ("float-x0", journal_entry(_entry(x0=1.5)), True),
    ("shape-of-another-image", journal_entry(_entry(shape=[100, 80])), True),
    ("shape-string", journal_entry(_entry(shape="256x256")), True),
    ("id-list", journal_entry(_entry(id=["good0"])), True),
    ("negative-height", journal_entry(_entry(h=-4), bytes(20)), False),
    ("height-string", journal_entry(_entry(h="4"), bytes(20)), False),
    ("header-not-json", journal_entry(b"{this is not json", bytes(20)), False),
    ("header-not-utf8", journal_entry(b"\xff\xfe\xfd", bytes(20)), False),
    ("wrong-magic", journal_entry(_entry(), magic=b"XXXX"), False),
]


@pytest.mark.parametrize("name, bad, later_restored", JOURNAL_CASES, ids=[c[0] for c in JOURNAL_CASES])
def test_damaged_journal_entry_is_skipped_and_the_rest_restored(corpus_env, tmp_path, name, bad,  # noqa: F811
                                                                later_restored):
    from core.annotation.session import AnnotationSession
    from core.data.io import read_mask
    from tests.core.bad_input_cases import tree_digest

    root = corpus_env.good_dataset(tmp_path / "data")
    session = AnnotationSession(root)
    journal = session.journal
    assert not read_mask(root / "masks" / "good0.png")[[10, 200], 10].any()  # both strokes land on background
    journal.append("good0", (256, 256), 10, 10, np.ones((3, 3), np.uint8))   # a good stroke before
    with open(journal.path_for("good0"), "ab") as fh:
        fh.write(bad)
    journal.append("good0", (256, 256), 200, 10, np.ones((2, 2), np.uint8))  # and one after
    images = tree_digest(root / "images")
    other = tree_digest(root / "masks" / "good1.png")
    assert session.pending_recovery() == ["good0"]
    restored = session.restore(["good0"])
    session.close()
    labels = read_mask(root / "masks" / "good0.png")
    assert (labels[10:13, 10:13] == 1).all()
    assert restored == (2 if later_restored else 1)
    assert (labels[200:202, 10:12] == 1).all() == later_restored
    assert len(journal.problems) == 1 and journal.problems[0].startswith("good0: "), journal.problems
    assert tree_digest(root / "images") == images and tree_digest(root / "masks" / "good1.png") == other
    assert AnnotationSession(root).pending_recovery() == []  # handled once, not offered again


def test_journal_of_an_unreadable_image_is_kept_and_others_restored(corpus_env, tmp_path):  # noqa: F811
    from core.annotation.session import AnnotationSession

    root = corpus_env.good_dataset(tmp_path / "data")
    session = AnnotationSession(root)
    for sid in ("good0", "good1"):
        session.journal.append(sid, (256, 256), 10, 10, np.full((3, 3), 7, np.uint8))
    data = (root / "images" / "good1.png").read_bytes()
    (root / "images" / "good1.png").write_bytes(data[: len(data) // 2])
    assert session.restore(["good0", "good1"]) == 1
    assert len(session.journal.problems) == 1 and "good1: not restored" in session.journal.problems[0]
    assert session.journal.path_for("good1").exists()


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # torch, on the crafted training state
@pytest.mark.parametrize("case", ALL_CASES, ids=case_ids(ALL_CASES))
def test_bad_input(case, corpus_env, tmp_path, capfd):  # noqa: F811
    run_case(case, corpus_env, tmp_path, capfd)


def test_library_warnings_are_dropped_and_other_stderr_kept(capfd):
    """fd-2 lines from libjpeg/libpng vanish while decoding; anything else printed meanwhile survives."""
    import threading

    from core.data.quiet import quiet_c_stderr

    def noisy(k: int) -> None:
        with quiet_c_stderr():
            os.write(2, b"Corrupt JPEG data: 3 extraneous bytes before marker 0xd9\n")
            os.write(2, f"keep {k}\n".encode())

    threads = [threading.Thread(target=noisy, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    err = capfd.readouterr().err
    assert sorted(err.splitlines()) == ["keep 0", "keep 1", "keep 2", "keep 3"]
