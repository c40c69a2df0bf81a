"""MB/s of the STS import's local steps (MD5 verify, split-zip extraction through ConcatReader) on a
15-part archive of all 318 ufba425 panoramics. Goal: safe extraction of the split parts as fast as a
plain ``zipfile.extractall`` of the merged zip (printed beside it), verify far faster than that."""

from __future__ import annotations

import hashlib
import time
import zipfile

import pytest

from core.data.sts_import import import_sts


@pytest.mark.benchmark
def test_sts_import_throughput(shared_data, tmp_path):
    ufba = shared_data / "ufba425_teeth"
    parts_dir = tmp_path / "parts"
    parts_dir.mkdir()
    archive = tmp_path / "SD-Tooth.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for k, img in enumerate(sorted((ufba / "images").glob("*.jpg"))):
            group = ("A-PXI", "C-PXI")[k % 2]
            zf.write(img, f"SD-Tooth/STS-2D-Tooth/{group}/Labeled/Image/{img.stem}.jpg")
            zf.write(ufba / "masks" / f"{img.stem}.png", f"SD-Tooth/STS-2D-Tooth/{group}/Labeled/Mask/{img.stem}.png")
    data = archive.read_bytes()
    step = -(-len(data) // 15)
    sums = []
    for i in range(15):
        name = f"SD-Tooth.zip.{i + 1:03d}"
        blob = data[i * step:(i + 1) * step]
        (parts_dir / name).write_bytes(blob)
        sums.append(f"{hashlib.md5(blob).hexdigest()}  {name}")
    (parts_dir / "md5sums.txt").write_text("\n".join(sums) + "\n")

    phases: dict[str, list[float]] = {}

    def timing(done: int, total: int, message: str) -> None:
        phase = "verify" if message.startswith("verifying") else "extract"
        phases.setdefault(phase, [time.perf_counter(), 0.0])[1] = time.perf_counter()

    start = time.perf_counter()
    summary = import_sts(tmp_path / "sts", parts_dir=parts_dir, record_url="http://127.0.0.1:9/none",
                         progress=timing)
    elapsed = time.perf_counter() - start
    t0 = time.perf_counter()
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(tmp_path / "reference")
    reference = time.perf_counter() - t0
    mb = len(data) / 1e6
    print(f"\nSTS import of {summary['images']} images, {mb:.1f} MB in 15 parts: {elapsed:.2f} s total")
    for phase, (t0, t1) in phases.items():
        print(f"  {phase}: {mb / max(t1 - t0, 1e-9):.0f} MB/s")
    print(f"  reference zipfile.extractall of the merged zip: {mb / reference:.0f} MB/s")
    assert summary["images"] == 318 and summary["labeled"] == 318
