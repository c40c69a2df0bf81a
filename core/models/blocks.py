"""U-Net building blocks shared by every architecture, and the encoder/decoder/head base class.

Every model is ``encoder -> decoder -> head`` with parameters named ``encoder.*``, ``decoder.*``
and ``head.*`` so weights pretrained by masked-image modelling or reconstruction (1-channel head)
load into a segmentation model with a different head: only ``head.*`` is skipped.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

PARTS = ("encoder", "decoder", "head")


def make_norm(norm: str, channels: int) -> nn.Module:
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    if norm == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    raise ValueError(f"norm must be 'batch' or 'instance', got {norm!r}")


class DoubleConv(nn.Module):
    """(Conv3x3 -> norm -> ReLU) x 2, the U-Net workhorse."""

    def __init__(self, cin: int, cout: int, norm: str = "batch", mid: int | None = None) -> None:
        super().__init__()
        mid = mid or cout
        self.block = nn.Sequential(
            nn.Conv2d(cin, mid, 3, padding=1, bias=False), make_norm(norm, mid), nn.ReLU(inplace=True),
            nn.Conv2d(mid, cout, 3, padding=1, bias=False), make_norm(norm, cout), nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class Down(nn.Module):
    def __init__(self, cin: int, cout: int, norm: str = "batch") -> None:
        super().__init__()
        self.pool = nn.MaxPool2d(2)
        self.conv = DoubleConv(cin, cout, norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.pool(x))


class UNetEncoder(nn.Module):
    """Returns the feature list [full, 1/2, ..., bottleneck] for the decoder's skips."""

    def __init__(self, in_channels: int, widths: list[int], norm: str) -> None:
        super().__init__()
        self.inc = DoubleConv(in_channels, widths[0], norm)
        self.downs = nn.ModuleList(Down(widths[i], widths[i + 1], norm) for i in range(len(widths) - 1))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = [self.inc(x)]
        for down in self.downs:
            feats.append(down(feats[-1]))
        return feats


class UNetDecoder(nn.Module):
    """Bilinear upsampling + skip concat + DoubleConv per level; ``skip_blocks`` refine the skips.

    ``skip_blocks[i](skip, up)`` sees the skip at level i and the upsampled decoder feature that
    gates it (attention / context variants); the plain U-Net uses identity.
    """

    def __init__(self, widths: list[int], norm: str, skip_factory=None) -> None:
        super().__init__()
        levels = len(widths) - 1
        self.ups = nn.ModuleList()
        self.skips = nn.ModuleList()
        cur = widths[-1]
        for i in reversed(range(levels)):
            out = widths[i - 1] if i > 0 else widths[0]
            self.skips.append(skip_factory(widths[i], cur) if skip_factory else nn.Identity())
            self.ups.append(DoubleConv(cur + widths[i], out, norm, mid=(cur + widths[i]) // 2))
            cur = out
        self.out_channels = cur

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        x = feats[-1]
        for k, (up, skip_block) in enumerate(zip(self.ups, self.skips, strict=True)):
            skip = feats[-2 - k]
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
            skip = skip_block(skip) if isinstance(skip_block, nn.Identity) else skip_block(skip, x)
            x = up(torch.cat([skip, x], dim=1))
        return x


class SegmentationNet(nn.Module):
    """encoder -> decoder -> head on input zero-padded to a multiple of ``multiple``, cropped back."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module, head: nn.Module, multiple: int) -> None:
        super().__init__()
        self.encoder, self.decoder, self.head = encoder, decoder, head
        self.multiple = multiple

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2], x.shape[-1]
        x = pad_to_multiple(x, self.multiple)
        y = self.head(self.decoder(self.encoder(x)))
        return y[..., :h, :w]

    def part_names(self) -> dict[str, list[str]]:
        """Parameter/buffer names of each part (encoder, decoder, head) as in ``state_dict()``."""
        return part_names(self)


def part_names(model: nn.Module) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {p: [] for p in PARTS}
    for name in model.state_dict():
        out.setdefault(name.split(".", 1)[0], []).append(name)
    return out


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Zero-pad bottom/right so H and W divide by ``multiple`` (traceable with dynamic shapes)."""
    h, w = x.shape[-2], x.shape[-1]
    ph = (multiple - h % multiple) % multiple
    pw = (multiple - w % multiple) % multiple
    return F.pad(x, [0, pw, 0, ph])
