"""Supervised fine-tuning: BCE + Dice (CE + Dice for multi-class), best checkpoint by val Dice.

With ``weight_ema`` > 0 the validated and saved network is the running average of the weights
(``core.train.ema``); the raw weights keep training and are reported as ``raw_dice``. With ``average_from``
it is instead the plain average of the weights after every step from that share of the run on (stochastic
weight averaging; the LiteMedSAM head on 20 labels, ADR 0015), and the latest average is saved, not the
epoch three validation images liked best.
"""

from __future__ import annotations

import numpy as np
import torch

from core.data.classes import mirror_indices
from core.infer.postprocess import learned_max_components, postprocess_binary
from core.train.common import base_meta, init_from, make_model
from core.train.data import SupervisedSet, cache_samples, label_lut, labels_subset, require
from core.train.ema import WeightAverage
from core.train.losses import seg_loss
from core.train.metrics import class_scores, image_means, predict_labels
from core.train.objective import Objective
from core.train.transforms import flip_transform, normalise, train_transform
from core.train.views import ViewTransform, image_key, make_view, view_names

# val images needed before validation, not the labels' shape alone, chooses the largest-component rule
MIN_VAL_TO_CHOOSE = 10


class FinetuneObjective(Objective):
    monitor = "val_dice"
    monitor_mode = "max"
    averages_weights = True  # honours recipe.weight_ema (Mean Teacher has its teacher instead)

    def prepare(self) -> None:
        r, idx = self.recipe, self.data.index
        self.classes = self.data.classes(r.labels)
        self.channels = 1 if r.labels == "binary" else len(self.classes) + 1
        labeled = [s for s in idx.labeled() if s.split == "train" or (r.val_trains and s.split == "val")]
        require(labeled, "labeled training images")
        self.train_samples = labels_subset(labeled, r.labels_fraction, r.seed)
        val = [s for s in idx.labeled() if s.split == "val"]
        require(val, "labeled validation images (the val split is empty; add labels or change the ratios)")
        lut = label_lut(self.classes, r.labels)
        self.train_cache = cache_samples(self.train_samples, r.input_hw, lut, r.bilateral, self.cancel)
        self.val_cache = cache_samples(val, r.input_hw, lut, r.bilateral, self.cancel)
        self.mirror = mirror_indices([0] + [c.value for c in self.classes]) if self.channels > 1 else None
        self.model, config = make_model(r, self.channels)
        # a frozen encoder's head (ADR 0015) sees each image and its mirror image, both embedded once
        flips = not r.augment and not r.crop and getattr(self.model, "flip_augment", False)
        self.transform = (flip_transform(r.input_hw, r.seed, self.mirror) if flips else
                          train_transform(r.input_hw, r.augment, r.crop, seed=r.seed, zoom=r.zoom, mirror=self.mirror))
        if self.mirror is not None and (r.augment or flips):
            self.log("FDI classes: a left-right flip in augmentation swaps the sides' tooth numbers")
        self.val_set = SupervisedSet(self.val_cache)
        if r.init:
            self.init_report = init_from(self.model, r.init, self.log)
        self.views_ready: int | None = None
        precompute = getattr(self.model, "precompute", None)
        if precompute is not None:  # a frozen encoder (ADR 0015): every image once, before the budget starts,
            from core.models.litemedsam_head import embedding_store  # or read where the background left it

            store = embedding_store(self.data.project.dir)
            train = [x for x, _ in SupervisedSet(self.train_cache)]
            inputs = train + [x.flip(-1) for x in train if flips] + [x for x, _ in self.val_set]
            if flips and r.views:
                ready, ready_inputs = self.ready_views(store, r.views)
                self.transform, inputs = ViewTransform(self.transform, ready, seed=r.seed), inputs + ready_inputs
            precompute(inputs, log=self.log, cancel=self.cancel, store=store)
        self.loader = self.make_loader(SupervisedSet(self.train_cache, self.transform), r.batch_size)
        self.meta = base_meta(r, self.data, config, self.train_samples, self.classes)
        self.one_structure = 0
        if self.channels == 1:
            targets = [t for t in self.train_cache.targets if t is not None]
            self.one_structure = learned_max_components(targets, r.min_area_frac)
            self.meta["postprocess"] = {"max_components": self.one_structure}
            if self.one_structure and len(val) >= MIN_VAL_TO_CHOOSE:
                self.log("the labels show one structure per image: validation decides whether predictions "
                         "keep only the largest component")
            elif self.one_structure:
                self.log("the labels show one structure per image: predictions will keep the largest component")
        self.info = {"train": len(self.train_samples), "val": len(val), "labels": r.labels,
                     "channels": self.channels}
        if self.views_ready is not None:
            self.info["views"] = self.views_ready
        if r.val_trains:   # the val split's figures are then a fit, and the curves say so
            self.info["val_trains"] = True
        self.average, self.averaging = None, False
        if self.averages_weights and r.average_from > 0:
            self.average = WeightAverage(self.model, 0.0, uniform=True)
            self.info["average_from"] = r.average_from
        elif self.averages_weights and r.weight_ema > 0:
            self.average = WeightAverage(self.model, r.weight_ema, warmup=True)
            self.info["weight_ema"] = r.weight_ema

    def ready_views(self, store, count: int) -> tuple[dict[bytes, list[str]], list[torch.Tensor]]:
        """Per training image, the first ``count`` views (``core.train.views``) whose embedding and mirror
        image's embedding are in ``store`` or the memo (the background embedded them); their inputs."""
        ready: dict[bytes, list[str]] = {}
        inputs: list[torch.Tensor] = []
        for image, target in zip(self.train_cache.images, self.train_cache.targets, strict=True):
            if target is None:
                continue
            image = image.astype(np.float32)
            for name in view_names(count):
                x = torch.from_numpy(normalise(make_view(name, image, target)[0]))[None]
                if self.model.has_embedding(x, store) and self.model.has_embedding(x.flip(-1), store):
                    ready.setdefault(image_key(image), []).append(name)
                    inputs += [x, x.flip(-1)]
        wanted = count * sum(t is not None for t in self.train_cache.targets)
        self.views_ready = len(inputs) // 2
        self.log(f"encoder views: {len(inputs) // 2} of {wanted} ready (embedded in the background) train too")
        return ready, inputs

    def transforms(self) -> list:
        return [self.transform]

    def train_step(self, batch, epoch: int) -> torch.Tensor:
        x, y = self.to_device(*batch)
        return seg_loss(self.net(x), y, self.recipe.label_smoothing)

    def after_step(self, progress: float) -> None:
        if self.average is None:
            return
        if self.average.uniform:  # before the start the average follows the raw weights exactly
            self.averaging = progress >= self.recipe.average_from
            if not self.averaging:
                self.average.follow(self.model)
                return
        self.average.update(self.model)

    def keeps_latest(self) -> bool:
        return self.averaging

    def validate(self) -> dict[str, float]:
        if self.average is None:
            return self.scores(self.model, decide=True)
        return {**self.scores(self.average.model, decide=True), "raw_dice": self.scores(self.model)["val_dice"]}

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

    def scores(self, model: torch.nn.Module, decide: bool = False) -> dict[str, float]:
        """Val loss and Dice/IoU at training size, over the full val split (identical on every rank), of
        the masks a user would be shown: after the post-processing rules the checkpoint will carry.
        ``decide``: this is the saved network, whose validation chooses its component rule."""
        losses, preds, targets, k = [], [], [], 1
        for x, y in self._val_batches():
            self.cancel.raise_if_cancelled("validation")
            x, y = self.to_device(x, y)
            logits = model(x)
            losses.append(float(seg_loss(logits, y)) * len(x))
            k = max(1, logits.shape[1] - 1)
            preds.append(predict_labels(logits).cpu())
            targets.append(y.cpu())
        pred, target = torch.cat(preds), torch.cat(targets)
        out = {"val_loss": sum(losses) / len(pred)}
        shown = self._shown(pred, target, out, decide)
        s = image_means(class_scores(shown, target, k))
        return {**out, "val_dice": float(s[:, 0].mean()), "val_iou": float(s[:, 1].mean())}

    def _shown(self, pred: torch.Tensor, target: torch.Tensor, out: dict, decide: bool) -> torch.Tensor:
        """Predictions after the band and minimum-area rules, and after keeping the largest component
        when the labels show one structure and validation favours it (or the val split is too small
        to judge, below MIN_VAL_TO_CHOOSE images). Keeping one blob lifts Dice by points when few labels
        leave stray blobs, and costs about a point when the masks themselves hold small extra pieces a
        well-trained model learns (the TG3K masks' burned-in text, ADR 0007)."""
        r = self.recipe
        band = tuple(r.band) if r.band else None

        def kept(limit: int) -> torch.Tensor:
            keep = [postprocess_binary((p > 0).numpy().astype(np.uint8), band, r.min_area_frac, max_components=limit)
                    for p in pred]
            return pred * torch.from_numpy(np.stack(keep)).to(pred.dtype)

        every = kept(0)
        if not self.one_structure:
            return every
        one = kept(1)
        d_every = float(image_means(class_scores(every, target, 1))[:, 0].mean())
        d_one = float(image_means(class_scores(one, target, 1))[:, 0].mean())
        out.update(val_dice_all_components=d_every, val_dice_largest=d_one)
        use_one = d_one >= d_every or len(pred) < MIN_VAL_TO_CHOOSE
        if decide:
            self.meta["postprocess"] = {"max_components": int(use_one)}
        return one if use_one else every

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
