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
from core.train.fields import MODE_LIST, MODEL_SPECS, Spec, default_of, specs
from core.train.recipe import Recipe
from training.output import emit


def register(sub: argparse._SubParsersAction) -> None:
    for mode in MODE_LIST:
        p = sub.add_parser(mode.name, help=mode.help, description=mode.help)
        p.add_argument("--data", required=True, help="dataset folder (any supported layout)")
        p.add_argument("--out", required=True, help="RUN_DIR for checkpoints, metrics.csv, tb/")
        p.add_argument("--recipe", help="JSON recipe file (keys override the mode's defaults)")
        p.add_argument("--resume", action="store_true", help="continue RUN_DIR from its last checkpoint")
        add_recipe_flags(p, mode.name)
        p.add_argument("--save-splits", action="store_true",
                       help="store splits made for a project without any in its project file")
        p.add_argument("--progress", action="store_true", help="tqdm bar even when stderr is not a terminal")
        p.add_argument("--json", action="store_true", help="print the result as one JSON object")
        if mode.name == "pseudo-label":
            p.add_argument("--model", help="take this checkpoint or .onnx model instead of training the small U-Net")
        p.set_defaults(func=run, mode=mode.name)


def add_recipe_flags(p: argparse.ArgumentParser, mode: str) -> None:
    """One flag per recipe field the mode uses, generated from the fields' knobs (core.train.fields);
    every flag defaults to None, so only what the user gives overrides the recipe."""
    for key, (kind, spec) in MODEL_SPECS.items():
        p.add_argument(spec.cli_flag(key), dest=f"model_{key}", type=kind, metavar=key.upper(), help=_with_range(spec))
    for f, spec in recipe_flags(Recipe, mode):
        flag, default = spec.cli_flag(f.name), default_of(f)
        kind = type(default)
        if kind is bool:  # a switch away from the default
            p.add_argument(flag, dest=f.name, action="store_const", const=not default, default=None, help=spec.help)
        elif kind is list:
            p.add_argument(flag, dest=f.name, type=float, nargs=spec.nargs, metavar=spec.metavar or None,
                           help=spec.help)
        else:
            p.add_argument(flag, dest=f.name, type=kind, choices=list(spec.choices) if spec.choices else None,
                           help=_with_range(spec))


def recipe_flags(cls: type, mode: str) -> list:
    return [(f, spec) for f, spec in specs(cls) if spec.cli_flag(f.name) and spec.used_by(mode)]


def _with_range(spec: Spec) -> str | None:
    if spec.lo is None or spec.hi is None:
        return spec.help or None
    left, right = "(" if spec.lo_open else "[", ")" if spec.hi_open else "]"
    return f"{spec.help}{'; ' if spec.help else ''}{left}{spec.lo:g}, {spec.hi:g}{right}"


def _given(args: argparse.Namespace) -> dict:
    """Recipe fields set by a flag (None = not given)."""
    out = {f.name: getattr(args, f.name, None) for f, _spec in recipe_flags(Recipe, args.mode)}
    return {k: v for k, v in out.items() if v is not None}


def build_recipe(args: argparse.Namespace):
    from core.models.checkpoint import read_sidecar
    from core.train.recipe import default_recipe, load_recipe

    if args.resume:
        stored = read_sidecar(Path(args.out) / "last.json").get("recipe", {})
        recipe = Recipe.from_json(stored)
    elif args.recipe:
        recipe = load_recipe(args.recipe, args.mode)
    elif uses_plan(args):
        recipe = planned_recipe(args)
    else:
        recipe = default_recipe(args.mode)
    changes = _given(args)
    if "band" in changes:
        changes["band"] = list(changes["band"])
    model = dict(recipe.model)
    if args.model_name:
        model = {"name": args.model_name, **({"norm": model["norm"]} if "norm" in model else {})}
    if args.model_base_channels:
        model["base_channels"] = args.model_base_channels
    changes["model"] = model
    return recipe.updated(**changes)


def uses_plan(args: argparse.Namespace) -> bool:
    """`finetune` without flags that shape the model or data trains what Train on my labels would on this
    device (model, size, budget from the number of labels); any such flag means the shipped recipe. Flags
    whose knob says ``plan`` (budget, device, threads, seeds, speed) refine the plan instead."""
    if args.mode != "finetune" or args.resume or args.recipe:
        return False
    plan_keys = {f.name for f, spec in specs(Recipe) if spec.plan}
    shaping = [k for k in _given(args) if k not in plan_keys]
    return not (shaping or args.model_name or args.model_base_channels)


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
