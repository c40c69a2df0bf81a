"""Supervised fine-tuning: BCE + Dice (CE + Dice for multi-class), best checkpoint by val Dice.

With ``weight_ema`` > 0 the validated and saved network is the running average of the weights
(``core.train.ema``); the raw weights keep training and are reported as ``raw_dice``.
"""

from __future__ import annotations

import torch

from core.infer.postprocess import learned_max_components
from core.train.common import base_meta, init_from, make_model
from core.train.data import SupervisedSet, cache_samples, label_lut, labels_subset, require
from core.train.ema import WeightAverage
from core.train.losses import seg_loss
from core.train.metrics import class_scores, image_means, predict_labels
from core.train.objective import Objective
from core.train.transforms import train_transform


class FinetuneObjective(Objective):
    monitor = "val_dice"
    monitor_mode = "max"
    averages_weights = True  # honours recipe.weight_ema (Mean Teacher has its teacher instead)

    def prepare(self) -> None:
        r, idx = self.recipe, self.data.index
        self.classes = self.data.classes(r.labels)
        self.channels = 1 if r.labels == "binary" else len(self.classes) + 1
        labeled = [s for s in idx.labeled() if s.split == "train"]
        require(labeled, "labeled training images")
        self.train_samples = labels_subset(labeled, r.labels_fraction, r.seed)
        val = [s for s in idx.labeled() if s.split == "val"]
        require(val, "labeled validation images (the val split is empty; add labels or change the ratios)")
        lut = label_lut(self.classes, r.labels)
        self.train_cache = cache_samples(self.train_samples, r.input_hw, lut, r.bilateral, self.cancel)
        self.val_cache = cache_samples(val, r.input_hw, lut, r.bilateral, self.cancel)
        self.transform = train_transform(r.input_hw, r.augment, r.crop, seed=r.seed, zoom=r.zoom)
        self.loader = self.make_loader(SupervisedSet(self.train_cache, self.transform), r.batch_size)
        self.val_set = SupervisedSet(self.val_cache)
        self.model, config = make_model(r, self.channels)
        if r.init:
            self.init_report = init_from(self.model, r.init, self.log)
        self.meta = base_meta(r, self.data, config, self.train_samples, self.classes)
        if self.channels == 1:
            targets = [t for t in self.train_cache.targets if t is not None]
            self.meta["postprocess"] = {"max_components": learned_max_components(targets, r.min_area_frac)}
            if self.meta["postprocess"]["max_components"]:
                self.log("the labels show one structure per image: predictions will keep the largest component")
        self.info = {"train": len(self.train_samples), "val": len(val), "labels": r.labels,
                     "channels": self.channels}
        use = r.weight_ema > 0 and self.averages_weights
        self.average = WeightAverage(self.model, r.weight_ema, warmup=True) if use else None
        if self.average is not None:
            self.info["weight_ema"] = r.weight_ema

    def transforms(self) -> list:
        return [self.transform]

    def train_step(self, batch, epoch: int) -> torch.Tensor:
        x, y = self.to_device(*batch)
        return seg_loss(self.net(x), y)

    def after_step(self) -> None:
        if self.average is not None:
            self.average.update(self.model)

    def validate(self) -> dict[str, float]:
        if self.average is None:
            return self.scores(self.model)
        return {**self.scores(self.average.model), "raw_dice": self.scores(self.model)["val_dice"]}

    def export_model(self) -> torch.nn.Module:
        return self.average.model if self.average is not None else self.model

    def extra_state(self) -> dict:
        """The raw weights when the checkpoint holds an average (here, or Mean Teacher's teacher)."""
        if self.export_model() is self.model:
            return {}
        out = {"student": {k: v.detach().cpu() for k, v in self.model.state_dict().items()}}
        if self.average is not None:
            out["average_updates"] = torch.tensor(self.average.updates)
        return out

    def load_extra_state(self, state: dict) -> None:
        if "student" in state:
            self.model.load_state_dict(state["student"])
        if self.average is not None and "average_updates" in state:
            self.average.updates = int(state["average_updates"])

    def scores(self, model: torch.nn.Module) -> dict[str, float]:
        """Val loss and Dice/IoU at training size, over the full val split (identical on every rank)."""
        losses, scores = [], []
        for x, y in self._val_batches():
            self.cancel.raise_if_cancelled("validation")
            x, y = self.to_device(x, y)
            logits = model(x)
            losses.append(float(seg_loss(logits, y)) * len(x))
            k = max(1, logits.shape[1] - 1)
            scores.append(image_means(class_scores(predict_labels(logits).cpu(), y.cpu(), k)))
        s = torch.cat(scores)
        return {"val_loss": sum(losses) / len(s), "val_dice": float(s[:, 0].mean()), "val_iou": float(s[:, 1].mean())}

    def _val_batches(self):
        """Every rank validates the whole val split, so they all take the same schedule decisions."""
        ds = self.val_set
        bs = self.recipe.batch_size
        for i in range(0, len(ds), bs):
            items = [ds[j] for j in range(i, min(i + bs, len(ds)))]
            yield torch.stack([a for a, _ in items]), torch.stack([b for _, b in items])

    def preview(self) -> dict:
        x, y = self.val_set[0]
        with torch.no_grad():
            logits = self.export_model()(x[None].to(self.rt.device))
        pred = predict_labels(logits)[0].float().cpu().numpy()
        return {"seg/image": x[0].numpy(), "seg/target": y.float().numpy(), "seg/prediction": pred}
