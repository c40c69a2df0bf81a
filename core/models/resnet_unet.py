"""ResNet-34 encoder U-Net (MONAI FlexibleUNet), randomly initialised: nothing is ever downloaded."""

from __future__ import annotations

import functools

import torch
import torch.nn as nn
import torch.nn.functional as F

from core.models.blocks import SegmentationNet
from core.models.registry import register_model


class ZeroPadShortcut(nn.Module):
    """MONAI's type-A shortcut (strided subsample + zero channels) without a batch-sized torch.zeros,
    which the ONNX tracer would freeze to the export batch size."""

    def __init__(self, planes: int, stride: int) -> None:
        super().__init__()
        self.planes, self.stride = planes, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x[:, :, :: self.stride, :: self.stride]
        return F.pad(out, [0, 0, 0, 0, 0, self.planes - out.shape[1]])


class _FlexibleEncoder(nn.Module):
    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.body = encoder
        for module in encoder.modules():
            shortcut = getattr(module, "downsample", None)
            if isinstance(shortcut, functools.partial):
                module.downsample = ZeroPadShortcut(shortcut.keywords["planes"], shortcut.keywords["stride"])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.body(x)


class _FlexibleDecoder(nn.Module):
    def __init__(self, decoder: nn.Module, skip_connect: int) -> None:
        super().__init__()
        self.body = decoder
        self.skip_connect = skip_connect

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        return self.body(feats, self.skip_connect)


@register_model("resnet34_unet")
def resnet34_unet(in_channels: int = 1, out_channels: int = 1, base_channels: int = 16,
                  norm: str = "batch") -> SegmentationNet:
    """FlexibleUNet(resnet34) split into encoder/decoder/head; decoder widths scale with base_channels."""
    from monai.networks.nets import FlexibleUNet

    if norm not in ("batch", "instance"):
        raise ValueError(f"norm must be 'batch' or 'instance', got {norm!r}")
    b = base_channels
    net = FlexibleUNet(
        in_channels=in_channels, out_channels=out_channels, backbone="resnet34", pretrained=False,
        decoder_channels=(16 * b, 8 * b, 4 * b, 2 * b, b), spatial_dims=2, norm=norm,
        interp_mode="bilinear", upsample="nontrainable", is_pad=False,
    )
    return SegmentationNet(_FlexibleEncoder(net.encoder), _FlexibleDecoder(net.decoder, net.skip_connect),
                           net.segmentation_head, multiple=32)
