"""Mean Teacher: a student trained on labels plus consistency with an EMA teacher on unlabeled images.

The student sees the strong view, the teacher the weak view of the same geometry; the consistency
weight ramps up over ``rampup_epochs``. Labeled and strong unlabeled images go through the student
in ONE forward pass (DistributedDataParallel allows one forward per backward). The teacher is what
is validated and saved: it is the smoother model.
"""

from __future__ import annotations

import torch

from core.train.common import freeze_early_blocks, init_from
from core.train.data import TwoViewSet, cache_samples
from core.train.ema import WeightAverage
from core.train.finetune import FinetuneObjective
from core.train.losses import consistency_mse, seg_loss, sigmoid_rampup
from core.train.transforms import TwoViews


class MeanTeacherObjective(FinetuneObjective):
    averages_weights = False  # the teacher is this mode's average
    def prepare(self) -> None:
        r = self.recipe
        saved_init, r.init = r.init, ""  # init once below, for student and teacher alike
        try:
            super().prepare()
        finally:
            r.init = saved_init
        if r.init:
            self.init_report = init_from(self.model, r.init, self.log)
        else:
            self.log("mean-teacher without --init: student and teacher start from random weights")
        chosen = {s.id for s in self.train_samples}
        pool = [s for s in self.data.index if s.split in ("train", "") and s.id not in chosen]
        if not pool:
            pool = list(self.train_samples)
            self.log("no unlabeled training images: consistency uses the labeled images")
        self.views = TwoViews(r.input_hw, seed=r.seed, zoom=r.zoom)
        self.unlabeled_cache = cache_samples(pool, r.input_hw, None, r.bilateral, self.cancel)
        self.unlabeled_loader = self.make_loader(TwoViewSet(self.unlabeled_cache, self.views),
                                                 r.unlabeled_batch_size)
        self._unlabeled_iter = None
        frozen = freeze_early_blocks(self.model, r.freeze_blocks) if r.freeze_blocks else 0
        self.ema = WeightAverage(self.model, r.ema_alpha)
        self.teacher = self.ema.model.to(self.rt.device)
        self.steps_per_epoch = len(self.loader)
        self.info.update({"unlabeled": len(pool), "frozen_tensors": frozen, "ema_alpha": r.ema_alpha})

    def transforms(self) -> list:
        return [self.transform, self.views]

    def start_epoch(self, epoch: int) -> None:
        super().start_epoch(epoch)
        sampler = getattr(self.unlabeled_loader, "sampler", None)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        self._unlabeled_iter = iter(self.unlabeled_loader)
        self._step_in_epoch = 0

    def _unlabeled(self):
        try:
            return next(self._unlabeled_iter)
        except StopIteration:
            self._unlabeled_iter = iter(self.unlabeled_loader)
            return next(self._unlabeled_iter)

    def train_step(self, batch, epoch: int) -> torch.Tensor:
        x, y = self.to_device(*batch)
        weak, strong = self.to_device(*self._unlabeled())
        out = self.net(torch.cat([x, strong]))
        supervised = seg_loss(out[: len(x)], y, self.recipe.label_smoothing)
        self.teacher.to(self.rt.device).eval()
        with torch.no_grad():
            target = self.teacher(weak)
        progress = epoch + self._step_in_epoch / max(1, self.steps_per_epoch)
        self._step_in_epoch += 1
        weight = self.recipe.consistency_weight * sigmoid_rampup(progress, self.recipe.rampup_epochs)
        return supervised + weight * consistency_mse(out[len(x) :], target)

    def after_step(self, progress: float) -> None:
        self.ema.update(self.model)

    def validate(self) -> dict[str, float]:
        teacher = self.scores(self.teacher, decide=True)
        student = self.scores(self.model)
        return {**teacher, "student_dice": student["val_dice"]}

    def export_model(self) -> torch.nn.Module:
        return self.teacher
