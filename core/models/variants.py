"""U-Net variants from the ToothSeg seeds: spatial-channel attention gates and neighbour-aware context."""

from __future__ import annotations

import torch
import torch.nn as nn

from core.models.blocks import SegmentationNet, UNetEncoder, make_norm
from core.models.registry import register_model
from core.models.unet import build_unet


class SpatialChannelGate(nn.Module):
    """Re-weights a skip by channel (squeeze-excite) then by space (gate from the decoder feature)."""

    def __init__(self, skip_channels: int, gate_channels: int) -> None:
        super().__init__()
        hidden = max(skip_channels // 4, 4)
        self.channel = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Conv2d(skip_channels, hidden, 1), nn.ReLU(inplace=True),
            nn.Conv2d(hidden, skip_channels, 1), nn.Sigmoid(),
        )
        inter = max(skip_channels // 2, 4)
        self.theta = nn.Conv2d(skip_channels, inter, 1, bias=False)
        self.phi = nn.Conv2d(gate_channels, inter, 1)
        self.psi = nn.Sequential(nn.ReLU(inplace=True), nn.Conv2d(inter, 1, 1), nn.Sigmoid())

    def forward(self, skip: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
        skip = skip * self.channel(skip)
        return skip * self.psi(self.theta(skip) + self.phi(gate))


class DilatedContext(nn.Module):
    """Neighbour-aware context: parallel 3x3 convs at dilations 1, 2, 4, fused, added residually."""

    def __init__(self, channels: int, norm: str = "batch", dilations: tuple[int, ...] = (1, 2, 4)) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Conv2d(channels, channels, 3, padding=d, dilation=d, bias=False) for d in dilations
        )
        self.fuse = nn.Sequential(make_norm(norm, channels), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.branches[0](x)
        for branch in self.branches[1:]:
            y = y + branch(x)
        return x + self.fuse(y)


class ContextSkip(nn.Module):
    def __init__(self, channels: int, norm: str) -> None:
        super().__init__()
        self.context = DilatedContext(channels, norm, dilations=(1, 2))

    def forward(self, skip: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
        return self.context(skip)


class ContextEncoder(UNetEncoder):
    """U-Net encoder whose bottleneck goes through a dilated context block."""

    def __init__(self, in_channels: int, widths: list[int], norm: str) -> None:
        super().__init__(in_channels, widths, norm)
        self.context = DilatedContext(widths[-1], norm)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = super().forward(x)
        feats[-1] = self.context(feats[-1])
        return feats


@register_model("unet_scag")
def unet_scag(in_channels: int = 1, out_channels: int = 1, base_channels: int = 16, norm: str = "batch",
              depth: int = 4) -> SegmentationNet:
    """U-Net with spatial-channel attention gates on every skip connection."""
    return build_unet(in_channels, out_channels, base_channels, norm, depth, skip_factory=SpatialChannelGate)


@register_model("unet_nac")
def unet_nac(in_channels: int = 1, out_channels: int = 1, base_channels: int = 16, norm: str = "batch",
             depth: int = 4) -> SegmentationNet:
    """U-Net with neighbour-aware (dilated) context at the bottleneck and on the skips."""
    return build_unet(in_channels, out_channels, base_channels, norm, depth,
                      skip_factory=lambda skip_ch, gate_ch: ContextSkip(skip_ch, norm), encoder_cls=ContextEncoder)
