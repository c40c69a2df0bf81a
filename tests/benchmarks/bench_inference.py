"""Inference speed and int8 quality: PyTorch eager vs ONNX Runtime fp32 vs int8, against a compute bound.

Goals (issue 4, this machine): ORT fp32 >= 1.4x faster than eager and within 1.25x of the compute
bound (GMACs / fp32 GMAC/s measured by a large matmul in the same run); int8 >= 2.5x faster than fp32
with a Dice drop <= 0.005 on real validation images. Figures are printed, never asserted.

The int8 ceiling is printed too: ONNX Runtime's own u8s8 GEMM (MatMulInteger) against its fp32 GEMM,
and a pure 3x3-conv stack quantised by our product path, both single-threaded in the same run. A
network's int8 speed-up cannot exceed that of the kernels its convolutions run on; on a CPU without
AVX-512 VNNI / AVX-VNNI (u8s8 dot products) that ceiling is below 2x.
"""

from __future__ import annotations

import statistics
import time

import cv2
import numpy as np
import pytest
import torch

from core.data.io import read_image, to_unit_float
from core.export.graph import export_graph
from core.export.onnx import export_onnx
from core.export.quantize import quantize_int8
from core.infer.ort_session import make_session, physical_cores
from core.models import build_model
from tests.core.tiny_trained import train_tiny

SIZES = [(256, 256), (512, 512), (320, 640)]
BASES = [16, 32]


def median_ms(fn, repeats: int = 7) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000.0)
    return statistics.median(times)


def conv_gmacs(model: torch.nn.Module, shape: tuple[int, ...]) -> float:
    total = [0]

    def hook(mod, _inp, out):
        total[0] += out.numel() * (mod.in_channels // mod.groups) * mod.kernel_size[0] * mod.kernel_size[1]

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        model(torch.zeros(shape))
    for h in handles:
        h.remove()
    return total[0] / 1e9


def measured_gmac_per_s(n: int = 2048, repeats: int = 7) -> float:
    """Best fp32 matmul throughput of this machine (torch, physical-core threads)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    best = min(median_ms(lambda: a @ b, 1) for _ in range(repeats))
    return n**3 / 1e9 / (best / 1000.0)


def _session_1t(model_bytes: bytes):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])


def gemm_int8_speedup(n: int = 1024) -> tuple[float, float]:
    """(fp32 GMAC/s, u8s8 GMAC/s) of ORT's GEMM kernels on one thread: the int8 ceiling of this CPU."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)

    def model(op, a_type, weight, out_type):
        graph = helper.make_graph([helper.make_node(op, ["A", "B"], ["Y"])], op,
                                  [helper.make_tensor_value_info("A", a_type, [n, n])],
                                  [helper.make_tensor_value_info("Y", out_type, None)],
                                  [numpy_helper.from_array(weight, "B")])
        return _session_1t(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())

    fp32 = model("MatMul", TensorProto.FLOAT, rng.standard_normal((n, n)).astype(np.float32), TensorProto.FLOAT)
    int8 = model("MatMulInteger", TensorProto.UINT8, rng.integers(-127, 127, (n, n)).astype(np.int8),
                 TensorProto.INT32)
    a32 = rng.standard_normal((n, n)).astype(np.float32)
    a8 = rng.integers(0, 255, (n, n)).astype(np.uint8)
    t32 = median_ms(lambda: fp32.run(None, {"A": a32}))
    t8 = median_ms(lambda: int8.run(None, {"A": a8}))
    return n**3 / 1e6 / t32, n**3 / 1e6 / t8


def conv_stack_int8_speedup(channels: int, size: int, calibration: list[np.ndarray]) -> float:
    """fp32 ms / int8 ms of four 3x3 convs + ReLU (all GEMM work, nothing int8 cannot speed up), one
    thread, quantised by ``quantize_int8`` exactly as exported models are."""
    stack = torch.nn.Sequential(torch.nn.Conv2d(1, channels, 3, padding=1), torch.nn.ReLU(),
                                *[m for _ in range(3) for m in (torch.nn.Conv2d(channels, channels, 3, padding=1),
                                                                torch.nn.ReLU())]).eval()
    x = calibration[0][None]
    graph = export_graph(stack, torch.from_numpy(x))
    fp32, int8 = _session_1t(graph), _session_1t(quantize_int8(graph, calibration))
    return median_ms(lambda: fp32.run(None, {"image": x})) / median_ms(lambda: int8.run(None, {"image": x}))


def time_backends(model: torch.nn.Module, x: np.ndarray, calibration: list[np.ndarray]) -> tuple[float, ...]:
    """Median ms of one image through PyTorch eager, ORT fp32 and ORT int8 (calibrated on real images)."""
    graph = export_graph(model, torch.from_numpy(x))
    fp32, _ = make_session(graph)
    int8, _ = make_session(quantize_int8(graph, calibration))
    xt = torch.from_numpy(x)
    with torch.inference_mode():
        eager_ms = median_ms(lambda: model(xt))
    return eager_ms, median_ms(lambda: fp32.run(None, {"image": x})), median_ms(lambda: int8.run(None, {"image": x}))


def real_inputs(shared_data, size: tuple[int, int], count: int) -> list[np.ndarray]:
    files = sorted((shared_data / "ufba425_teeth" / "images").glob("*.jpg"))[:count]
    out = []
    for f in files:
        img = cv2.resize(to_unit_float(read_image(f)), (size[1], size[0]), interpolation=cv2.INTER_AREA)
        out.append(((img - 0.5) / 0.25)[None].astype(np.float32))
    return out


@pytest.mark.benchmark
def test_inference_speed_and_int8_quality(shared_data, tmp_path):
    threads = physical_cores()
    torch.set_num_threads(threads)
    peak = measured_gmac_per_s()
    print(f"\nphysical cores {threads}; measured fp32 matmul {peak:.1f} GMAC/s")
    print(f"{'model':>10} {'size':>9} {'GMACs':>6} {'eager ms':>9} {'ORT fp32':>9} {'ORT int8':>9} "
          f"{'bound ms':>9} {'eager/fp32':>10} {'fp32/bound':>10} {'fp32/int8':>9}")
    for base in BASES:
        model = build_model({"name": "unet", "base_channels": base}).eval()
        for size in SIZES:
            inputs = real_inputs(shared_data, size, 8)
            x = inputs[0][None]
            eager_ms, fp32_ms, int8_ms = time_backends(model, x, inputs)
            gmacs = conv_gmacs(model, x.shape)
            bound_ms = gmacs / peak * 1000.0
            print(f"{'unet-' + str(base):>10} {size[0]:>4}x{size[1]:<4} {gmacs:6.2f} {eager_ms:9.1f} {fp32_ms:9.1f} "
                  f"{int8_ms:9.1f} {bound_ms:9.1f} {eager_ms / fp32_ms:10.2f} {fp32_ms / bound_ms:10.2f} "
                  f"{fp32_ms / int8_ms:9.2f}")
    print(f"measured fp32 matmul again at the end: {measured_gmac_per_s():.1f} GMAC/s")
    g32, g8 = gemm_int8_speedup()
    stack = {c: conv_stack_int8_speedup(c, 256, real_inputs(shared_data, (256, 256), 4)) for c in (16, 32, 64)}
    print(f"int8 ceiling on this CPU (1 thread): ORT GEMM fp32 {g32:.1f} GMAC/s, u8s8 {g8:.1f} GMAC/s -> "
          f"{g8 / g32:.2f}x; 3x3-conv stacks at 256^2 fp32/int8: "
          + ", ".join(f"{c} ch {r:.2f}x" for c, r in stack.items()))

    # int8 quality on real validation images: a base-16 U-Net trained briefly on tg3k thyroid frames,
    # exported through the product path (calibration on training images, Dice on images it never saw)
    torch.set_num_threads(threads)
    ckpt = train_tiny(shared_data, tmp_path / "ckpt", base_channels=16, size=128, steps=150, images=96)
    val = sorted((shared_data / "tg3k_thyroid" / "images").glob("*.jpg"))[300:340]
    report = export_onnx(ckpt, tmp_path / "m.onnx", images=val, int8=True,
                         calibration=shared_data / "tg3k_thyroid", max_images=40)
    report_val = _dice_on(val, shared_data, tmp_path)
    print(f"int8 quality (unet-16 @128, {report_val['n']} tg3k validation images): Dice fp32 "
          f"{report_val['fp32']:.4f}, int8 {report_val['int8']:.4f}, drop {report_val['fp32'] - report_val['int8']:+.4f}; "
          f"int8-vs-fp32 agreement {report['dice_int8_vs_fp32']:.4f}; parity {report['max_abs_diff']:.1e}")


def _dice_on(val, shared_data, tmp_path) -> dict:
    from core.data.io import read_mask
    from core.infer.predictor import load_predictor
    from core.metrics import dice

    fp32, int8 = load_predictor(tmp_path / "m.onnx"), load_predictor(tmp_path / "m.int8.onnx")
    d32, d8 = [], []
    for path in val:
        truth = read_mask(shared_data / "tg3k_thyroid" / "masks" / path.name)
        image = read_image(path)
        d32.append(dice(fp32.predict(image).mask, truth))
        d8.append(dice(int8.predict(image).mask, truth))
    return {"n": len(val), "fp32": float(np.mean(d32)), "int8": float(np.mean(d8))}
