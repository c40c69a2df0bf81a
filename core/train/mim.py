"""Masked image modelling: hide random pixel blocks, reconstruct them, L1 only on hidden pixels.

Uses every image of the train split, labeled or not (val and test images stay out). The saved
encoder-decoder is a 1-channel network whose tensors load into a binary segmentation model.
"""

from __future__ import annotations

import torch

from core.train.common import base_meta, make_model
from core.train.data import ImageSet, cache_samples, require
from core.train.losses import masked_l1
from core.train.masking import batch_block_masks
from core.train.objective import Objective
from core.train.transforms import MEAN, STD, train_transform


class PretrainObjective(Objective):
    """Shared by MIM and reconstruction: image-only data, a 1-channel output compared in [0, 1]."""

    monitor = "val_loss"
    monitor_mode = "min"
    preview_names = ("mim/input_masked", "mim/target_full", "mim/recon_pred", "mim/abs_error")

    def prepare(self) -> None:
        r, idx = self.recipe, self.data.index
        train = [s for s in idx if s.split in ("train", "")]
        require(train, "training images")
        val = [s for s in idx if s.split == "val"] or train[: min(8, len(train))]
        self.train_cache = cache_samples(train, r.input_hw, None, r.bilateral, self.cancel)
        self.val_cache = cache_samples(val, r.input_hw, None, r.bilateral, self.cancel)
        self.transform = train_transform(r.input_hw, r.augment, 0, seed=r.seed, zoom=r.zoom)
        self.loader = self.make_loader(ImageSet(self.train_cache, self.transform), r.batch_size)
        self.val_images = torch.stack([ImageSet(self.val_cache)[i] for i in range(len(self.val_cache.images))])
        self.model, config = make_model(r, 1)
        self.meta = base_meta(r, self.data, config, train)
        self.meta["classes"] = [{"id": 0, "name": "intensity"}]
        self.info = {"images": len(train), "val_images": len(val)}

    def transforms(self) -> list:
        return [self.transform]

    def corrupt(self, x01: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(network input in [0, 1], loss weight mask) for a batch of clean [0, 1] images."""
        n, _, h, w = x01.shape
        r = self.recipe
        mask = batch_block_masks(n, h, w, r.num_blocks, (r.block_min, r.block_max), r.mask_ratio, generator)
        return x01 * (1 - mask), mask

    def loss(self, pred: torch.Tensor, x01: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return masked_l1(pred.float(), x01, mask)

    def _forward(self, net, x01: torch.Tensor, generator: torch.Generator):
        inp, mask = self.corrupt(x01, generator)
        inp, mask, x01 = self.to_device(inp, mask, x01)
        pred = net((inp - MEAN) / STD)
        return inp, mask, pred

    def train_step(self, batch, epoch: int) -> torch.Tensor:
        x01 = batch
        inp, mask, pred = self._forward(self.net, x01, self.generator)
        return self.loss(pred, x01.to(self.rt.device), mask)

    def validate(self) -> dict[str, float]:
        g = torch.Generator().manual_seed(12345)  # the same hidden blocks every epoch
        total, n = 0.0, 0
        for i in range(0, len(self.val_images), self.recipe.batch_size):
            self.cancel.raise_if_cancelled("validation")
            x01 = self.val_images[i : i + self.recipe.batch_size]
            _, mask, pred = self._forward(self.model, x01, g)
            total += float(self.loss(pred, x01.to(self.rt.device), mask)) * len(x01)
            n += len(x01)
        return {"val_loss": total / n}

    def preview(self) -> dict:
        g = torch.Generator().manual_seed(12345)
        x01 = self.val_images[:1]
        with torch.no_grad():
            inp, mask, pred = self._forward(self.model, x01, g)
        target = x01[0, 0].numpy()
        recon = pred[0, 0].float().cpu().numpy()
        images = (inp[0, 0].cpu().numpy(), target, recon, abs(recon - target))
        return dict(zip(self.preview_names, images, strict=True))
