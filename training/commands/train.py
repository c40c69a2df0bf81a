"""`toothseg pretrain-mim|pretrain-recon|finetune|mean-teacher|pseudo-label --data DIR --out RUN_DIR`.

Every subcommand runs under ``torchrun --nproc_per_node N`` too (DDP; rank 0 writes). Flags override
the mode's default recipe (``core/train/recipes/<mode>.json``) or a ``--recipe FILE``; ``--resume``
continues RUN_DIR from its last checkpoint with the recipe stored there.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from core.errors import ToothSegError
from training.output import emit

HELP = {
    "pretrain-mim": "masked image modelling on every image (labeled or not)",
    "pretrain-recon": "reconstruct images from noisy, blurred, jittered copies",
    "finetune": "supervised training (BCE + Dice), optionally from a pretrained --init",
    "mean-teacher": "semi-supervised: student + EMA teacher with consistency on unlabeled images",
    "pseudo-label": "train (or take) a small U-Net and write cleaned masks for unlabeled images",
}

# flag -> recipe key (argparse dest is the key itself)
OVERRIDES = ("size", "width", "labels", "epochs", "max_steps", "max_minutes", "batch_size", "lr", "weight_decay",
             "seed", "split_seed", "labels_fraction", "init", "num_blocks", "mask_ratio", "ema_alpha",
             "consistency_weight", "rampup_epochs", "freeze_blocks", "unlabeled_batch_size", "threshold",
             "band", "min_area_frac", "label_value", "device", "threads", "early_stop_patience", "crop",
             "schedule", "weight_ema", "zoom", "speed")
# flags that refine the device-aware plan of a flagless `finetune` instead of replacing it (see planned_recipe)
PLAN_FLAGS = ("max_minutes", "device", "threads", "seed", "split_seed", "speed")


def register(sub: argparse._SubParsersAction) -> None:
    for mode, text in HELP.items():
        p = sub.add_parser(mode, help=text, description=text)
        p.add_argument("--data", required=True, help="dataset folder (any supported layout)")
        p.add_argument("--out", required=True, help="RUN_DIR for checkpoints, metrics.csv, tb/")
        p.add_argument("--recipe", help="JSON recipe file (keys override the mode's defaults)")
        p.add_argument("--resume", action="store_true", help="continue RUN_DIR from its last checkpoint")
        p.add_argument("--arch", help="model name from the registry (unet, unet_scag, ...)")
        p.add_argument("--base-channels", type=int)
        p.add_argument("--size", type=int, help="training input height (and width unless --width is given)")
        p.add_argument("--width", type=int, help="training input width (default: --size, square); 2:1 suits panoramics")
        p.add_argument("--labels", choices=("binary", "multiclass"))
        p.add_argument("--epochs", type=int)
        p.add_argument("--max-steps", type=int)
        p.add_argument("--max-minutes", type=float, help="time budget; the job stops cleanly when it is spent")
        p.add_argument("--batch-size", type=int)
        p.add_argument("--lr", type=float)
        p.add_argument("--weight-decay", type=float)
        p.add_argument("--schedule", choices=("plateau", "cosine"),
                       help="plateau: halve the rate when the monitor stalls; cosine: anneal over the steps or budget")
        p.add_argument("--seed", type=int)
        p.add_argument("--split-seed", type=int)
        p.add_argument("--early-stop-patience", type=int)
        p.add_argument("--crop", type=int, help="foreground-aware random crops of this size")
        p.add_argument("--zoom", type=float, help="augmentation: random zoom by up to ± this fraction (e.g. 0.15)")
        p.add_argument("--bilateral", action="store_true", default=None, help="bilateral-filter preprocessing")
        p.add_argument("--no-augment", action="store_true", help="turn augmentation off")
        p.add_argument("--device", help="auto (default), cpu, cuda, mps")
        p.add_argument("--threads", type=int, help="torch CPU threads")
        p.add_argument("--speed", help="auto (default: the fastest option measured on this machine), fp32, "
                                       "channels_last, bf16, bf16+channels_last, fp16, ...+compile")
        p.add_argument("--tensorboard", action="store_true", default=None, help="also write TensorBoard logs")
        p.add_argument("--save-splits", action="store_true",
                       help="store splits made for a project without any in its project file")
        p.add_argument("--progress", action="store_true", help="tqdm bar even when stderr is not a terminal")
        p.add_argument("--json", action="store_true", help="print the result as one JSON object")
        if mode in ("finetune", "mean-teacher", "pseudo-label"):
            p.add_argument("--init", help="checkpoint to start from (pretrained or supervised)")
            p.add_argument("--labels-fraction", type=float, help="train on a seeded subset of the labels")
        if mode in ("finetune", "pseudo-label"):
            p.add_argument("--weight-ema", type=float, help="save the running average of the weights (decay, e.g. 0.99)")
        if mode == "pretrain-mim":
            p.add_argument("--num-blocks", type=int)
            p.add_argument("--mask-ratio", type=float, help="add blocks until this fraction is hidden")
        if mode == "mean-teacher":
            p.add_argument("--ema-alpha", type=float)
            p.add_argument("--consistency-weight", type=float)
            p.add_argument("--rampup-epochs", type=int)
            p.add_argument("--freeze-blocks", type=int, help="freeze this many early encoder stages")
            p.add_argument("--unlabeled-batch-size", type=int)
        if mode == "pseudo-label":
            p.add_argument("--model", help="take this checkpoint or .onnx model instead of training the small U-Net")
            p.add_argument("--threshold", type=float)
            p.add_argument("--band", type=float, nargs=2, metavar=("TOP", "BOTTOM"),
                           help="keep components whose centre row lies in this fraction band")
            p.add_argument("--min-area-frac", type=float)
            p.add_argument("--label-value", type=int, help="value written into masks (255 or 1)")
        p.set_defaults(func=run, mode=mode)


def build_recipe(args: argparse.Namespace):
    from core.models.checkpoint import read_sidecar
    from core.train.recipe import Recipe, default_recipe, load_recipe

    if args.resume:
        stored = read_sidecar(Path(args.out) / "last.json").get("recipe", {})
        recipe = Recipe.from_json(stored)
    elif args.recipe:
        recipe = load_recipe(args.recipe, args.mode)
    elif uses_plan(args):
        recipe = planned_recipe(args)
    else:
        recipe = default_recipe(args.mode)
    changes = {k: getattr(args, k, None) for k in OVERRIDES}
    if changes.get("band") is not None:
        changes["band"] = list(changes["band"])
    model = dict(recipe.model)
    if args.arch:
        model = {"name": args.arch, **({"norm": model["norm"]} if "norm" in model else {})}
    if args.base_channels:
        model["base_channels"] = args.base_channels
    changes["model"] = model
    if args.no_augment:
        changes["augment"] = False
    changes["bilateral"] = args.bilateral
    changes["tensorboard"] = args.tensorboard
    return recipe.updated(**changes)


def uses_plan(args: argparse.Namespace) -> bool:
    """`finetune` without flags that shape the model or data trains what Train on my labels would on this
    device (model, size, budget from the number of labels); any such flag means the shipped recipe."""
    if args.mode != "finetune" or args.resume or args.recipe:
        return False
    shaping = [k for k in OVERRIDES if k not in PLAN_FLAGS and getattr(args, k, None) is not None]
    return not (shaping or args.arch or args.base_channels or args.no_augment or args.bilateral)


def planned_recipe(args: argparse.Namespace):
    """The device-aware plan of ``core.hitl.auto_train`` (no warm start from project models: --init picks one)."""
    from core.data.layouts import load_index
    from core.data.project import Project
    from core.hitl.auto_train import plan_training, split_ratios

    project = Project.open(args.data)
    index = project.apply(load_index(Path(args.data)))
    device = args.device if args.device not in (None, "auto") else None
    plan = plan_training(project, index, minutes=args.max_minutes, device=device, warm_start=False)
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"plan: {plan.describe()} (flags such as --size or --arch train the shipped recipe instead)",
              file=sys.stderr)
    return plan.recipe.updated(split_ratios=list(split_ratios(plan.labeled)))


def make_events(args: argparse.Namespace):
    from core.train.events import StderrLogEvents, TqdmEvents

    if int(os.environ.get("RANK", "0")) != 0:
        return None
    return TqdmEvents() if (args.progress or sys.stderr.isatty()) else StderrLogEvents()


def run(args: argparse.Namespace) -> int:
    from core.train.data import open_dataset
    from core.train.loop import run_training
    from core.train.pseudo import run_pseudo_label

    recipe = build_recipe(args)
    if args.resume and not (Path(args.out) / "last_state.pt").exists():
        raise ToothSegError(f"{args.out}: nothing to resume (no last_state.pt)")
    data = open_dataset(args.data, recipe.split_seed, recipe.split_ratios,
                        persist_splits=bool(args.save_splits) and int(os.environ.get("RANK", "0")) == 0)
    events = make_events(args)
    if args.mode == "pseudo-label":
        given = {k: getattr(args, k, None) for k in ("threshold", "band", "min_area_frac")}
        result = run_pseudo_label(recipe, data, args.out, model_path=args.model, events=events,
                                  rules={k: v for k, v in given.items() if v is not None})
    else:
        result = run_training(recipe, data, args.out, events=events, resume=args.resume)
    if int(os.environ.get("RANK", "0")) == 0:
        text = (f"{args.mode}: {result.get('epochs', 0)} epochs, {result.get('steps', 0)} steps, "
                f"{result.get('monitor', '')}={result.get('best')} ({result.get('stopped', '')}); "
                f"checkpoints in {args.out}")
        best = Path(args.out) / "best.safetensors"
        if args.mode in ("finetune", "mean-teacher") and best.exists():
            from core.train.confidence import describe
            from core.train.evaluate import evaluate

            rep = evaluate(best, data, split="val")  # the saved model's val Dice with n, groups and interval
            result["val"] = {k: rep[k] for k in ("dice", "n", "groups", "ci", "ci_note")}
            text += "\n" + describe(result["val"], "val Dice")
        emit(result, args.json, text)
    return 0
