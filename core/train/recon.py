"""Reconstruction pretraining: restore the full image from a noisy, blurred, intensity-jittered copy."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from core.train.mim import PretrainObjective


def _blur(x: torch.Tensor) -> torch.Tensor:
    k = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0])
    k = (k[:, None] * k[None, :]) / 256.0
    return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="replicate"), k[None, None].to(x))


class ReconObjective(PretrainObjective):
    preview_names = ("recon/input_perturbed", "recon/target_full", "recon/recon_pred", "recon/abs_error")

    def corrupt(self, x01: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        r = self.recipe
        n = x01.shape[0]
        gain = 1 + (torch.rand(n, 1, 1, 1, generator=generator) * 2 - 1) * r.jitter
        bias = (torch.rand(n, 1, 1, 1, generator=generator) * 2 - 1) * r.jitter / 2
        out = x01 * gain + bias
        blur = (torch.rand(n, 1, 1, 1, generator=generator) < r.blur_prob).float()
        out = blur * _blur(out) + (1 - blur) * out
        out = out + torch.randn(out.shape, generator=generator) * r.noise_std
        return out.clamp(0, 1), torch.ones_like(x01)

    def loss(self, pred: torch.Tensor, x01: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return F.l1_loss(pred.float(), x01)
