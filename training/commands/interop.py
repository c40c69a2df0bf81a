"""Interop subcommands: coco-export, coco-import, export-nnunet, import-nnunet."""

from __future__ import annotations

import argparse
from pathlib import Path

from core.data.layouts import load_index
from core.data.project import Project
from training.output import emit


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("coco-export", help="write a COCO JSON (one annotation per instance) of a dataset")
    p.add_argument("dir", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--polygons", action="store_true", help="polygons instead of RLE")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_coco_export)

    p = sub.add_parser("coco-import", help="turn a COCO JSON into label-map masks + project classes")
    p.add_argument("coco", type=Path)
    p.add_argument("--dest", type=Path, required=True)
    p.add_argument("--images", type=Path, help="folder holding the COCO images (default: beside the JSON)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_coco_import)

    p = sub.add_parser("export-nnunet", help="write the nnU-Net v2 raw layout of a dataset")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True, help="nnUNet_raw/DatasetNNN_Name")
    p.add_argument("--channel-name", default="X-ray")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_export_nnunet)

    p = sub.add_parser("import-nnunet", help="bring nnU-Net predictions back as pseudo-label masks")
    p.add_argument("--pred", type=Path, required=True, help="folder of nnU-Net predicted PNGs")
    p.add_argument("--export", type=Path, required=True, help="the DatasetNNN_Name folder export-nnunet wrote")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_import_nnunet)


def _open(data: Path):
    index = load_index(data)
    project = Project.open(index.root)
    return project.apply(index), project


def cmd_coco_export(args: argparse.Namespace) -> int:
    from core.interop.coco import export_coco

    index, project = _open(args.dir)
    result = export_coco(index, project, args.out, polygons=args.polygons)
    emit(result, args.json, f"wrote {result['annotations']} instances of {result['images']} images to {args.out}")
    return 0


def cmd_coco_import(args: argparse.Namespace) -> int:
    from core.interop.coco import import_coco

    result = import_coco(args.coco, args.dest, args.images)
    emit(result, args.json, f"imported {result['images']} images with {result['classes']} classes into {args.dest}")
    return 0


def cmd_export_nnunet(args: argparse.Namespace) -> int:
    from core.interop.nnunet import export_nnunet

    index, project = _open(args.data)
    result = export_nnunet(index, project, args.out, args.channel_name)
    emit(result, args.json, f"wrote {result['training']} training and {result['test']} test cases to {args.out}")
    return 0


def cmd_import_nnunet(args: argparse.Namespace) -> int:
    from core.interop.nnunet import import_nnunet_predictions

    index, project = _open(args.data)
    result = import_nnunet_predictions(args.pred, args.export, index, project)
    emit(result, args.json, f"imported {result['imported']} predicted masks as pseudo-labels")
    return 0
