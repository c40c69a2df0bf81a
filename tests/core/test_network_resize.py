"""One resize to the network's input size (core.preprocess.to_network_size) for training, export
samples and inference (issue 21): area averaging when shrinking, bilinear when enlarging."""

from __future__ import annotations

import cv2
import numpy as np

from core.data.io import read_image, to_unit_float
from core.export.samples import network_input
from core.preprocess import to_network_size
from core.train.transforms import resize_image


def test_training_export_and_inference_resize_a_real_frame_identically(shared_data):
    path = sorted((shared_data / "tg3k_thyroid" / "images").iterdir())[0]
    img = to_unit_float(read_image(path))
    for size in ((64, 96), (img.shape[0] * 2, img.shape[1] + 8)):        # shrink, then enlarge
        net = to_network_size(img, size)
        assert net.shape == size and net.dtype == np.float32
        assert np.array_equal(resize_image(img, size), net)             # training
        assert np.array_equal(network_input(path, size, 0.0, 1.0)[0], net)  # export parity samples
    shrink = cv2.INTER_AREA
    assert np.array_equal(to_network_size(img, (64, 96)), cv2.resize(img, (96, 64), interpolation=shrink))
    big = to_network_size(img, (img.shape[0] * 2, img.shape[1] * 2))
    assert np.array_equal(big, cv2.resize(img, (img.shape[1] * 2, img.shape[0] * 2), interpolation=cv2.INTER_LINEAR))
    stack = to_network_size(np.stack([img, 1 - img], -1), (64, 96))     # (H, W, C) as the predictor passes it
    assert stack.shape == (64, 96, 2) and np.allclose(stack[..., 0], to_network_size(img, (64, 96)))
    assert to_network_size(img[..., None], (64, 96)).shape == (64, 96, 1)
    same = to_network_size(img, img.shape)
    assert np.array_equal(same, img) and same is not img
