"""The plain U-Net (ToothSeg seed) and the lightweight U-Net used for pseudo-labelling."""

from __future__ import annotations

import torch.nn as nn

from core.models.blocks import SegmentationNet, UNetDecoder, UNetEncoder
from core.models.registry import register_model


def unet_widths(base_channels: int, depth: int) -> list[int]:
    """[b, 2b, ..., 2^(depth-1) b, 2^(depth-1) b]: the bilinear U-Net halves its bottleneck."""
    widths = [base_channels * 2**i for i in range(depth)]
    return widths + [widths[-1]]


def build_unet(
    in_channels: int = 1,
    out_channels: int = 1,
    base_channels: int = 16,
    norm: str = "batch",
    depth: int = 4,
    skip_factory=None,
    encoder_cls: type[UNetEncoder] = UNetEncoder,
) -> SegmentationNet:
    widths = unet_widths(base_channels, depth)
    encoder = encoder_cls(in_channels, widths, norm)
    decoder = UNetDecoder(widths, norm, skip_factory)
    head = nn.Conv2d(decoder.out_channels, out_channels, kernel_size=1)
    return SegmentationNet(encoder, decoder, head, multiple=2**depth)


@register_model("unet")
def unet(in_channels: int = 1, out_channels: int = 1, base_channels: int = 16, norm: str = "batch",
         depth: int = 4) -> SegmentationNet:
    """DoubleConv, 4 x (MaxPool + DoubleConv) down, 4 x (bilinear up + skip + DoubleConv), 1x1 head."""
    return build_unet(in_channels, out_channels, base_channels, norm, depth)


@register_model("small_unet")
def small_unet(in_channels: int = 1, out_channels: int = 1, base_channels: int = 8, norm: str = "batch",
               depth: int = 3) -> SegmentationNet:
    """Three levels from 8 channels: cheap enough to label thousands of unlabelled images."""
    return build_unet(in_channels, out_channels, base_channels, norm, depth)
