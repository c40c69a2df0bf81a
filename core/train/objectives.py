"""Mode name -> Objective class; the loop looks modes up here (no if/elif chain)."""

from __future__ import annotations

from core.train.finetune import FinetuneObjective
from core.train.mean_teacher import MeanTeacherObjective
from core.train.mim import PretrainObjective
from core.train.objective import Objective
from core.train.recon import ReconObjective

OBJECTIVES: dict[str, type[Objective]] = {
    "pretrain-mim": PretrainObjective,
    "pretrain-recon": ReconObjective,
    "finetune": FinetuneObjective,
    "mean-teacher": MeanTeacherObjective,
    "pseudo-label": FinetuneObjective,  # trains the small U-Net; core.train.pseudo then labels
}
