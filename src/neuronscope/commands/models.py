"""Commands about a model as a whole: layers, train, weights, overview."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..core.errors import NeuronscopeError
from .common import load, model_args, writable_file, writable_folder


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(line.format(*r) for r in [header, *rows])


def cmd_layers(args: argparse.Namespace) -> None:
    from ..core.layers import layers
    from ..core.receptive import receptive_field

    model = load(args)
    rows = []
    for info in layers(model):
        rf = ""
        if len(info.shape) >= 2 and info.unit_axis is not None:
            try:
                field = receptive_field(model, info.name)
                rf = "x".join(map(str, field.size)) + " /" + "x".join(map(str, field.stride))
                rf = rf if field.exact else f">={rf} (est.)"  # wider than the input
            except NeuronscopeError:
                rf = "?"
        shape = "x".join(map(str, info.shape))
        rows.append([info.name, info.kind, info.module_type, shape, str(info.n_units), rf])
    print(_table(rows, ["layer", "kind", "module", "shape", "units", "receptive field /stride"]))


def cmd_train(args: argparse.Namespace) -> None:
    from .. import zoo

    if args.list or not args.name:
        for name in zoo.RECIPES:
            print(f"{name:<18} {zoo.recipe(name).description}")
        for name, entry in zoo.PRETRAINED.items():
            print(f"{name:<18} {entry.description}")
        return
    if args.name in zoo.PRETRAINED:
        print(f"{args.name}: pretrained, nothing to train "
              f"(weights from the package {zoo.PRETRAINED[args.name].package})")
        return
    _, metrics = zoo.train(args.name, retrain=args.retrain, progress=not args.quiet)
    seconds = f"{metrics['seconds']:.1f} s"
    source = f"cached; trained in {seconds}" if metrics.get("cached") else f"trained in {seconds}"
    print(f"{args.name}: test accuracy {metrics['test_accuracy']:.4f} ({source})")
    print(f"weights: {metrics['cache_path']}")


def cmd_weights(args: argparse.Namespace) -> None:
    from ..core.spec import input_spec
    from ..core.units import Unit, find_module
    from ..render.grid import save_png
    from ..render.weights import weight_image

    writable_file(args.out)
    model = load(args, need_spec=False)
    spec = input_spec(model)
    module = find_module(model, Unit.parse(args.layer).module_path)
    image = weight_image(
        module,
        input_shape=spec.shape if spec else None,
        class_names=spec.class_names if spec else None,
    )
    save_png(image, args.out)
    print(f"wrote {args.out} ({image.width}x{image.height})")


def cmd_overview(args: argparse.Namespace) -> None:
    from ..atlas.overview import write_overview

    writable_folder(args.out)
    model = load(args)
    index = write_overview(model, Path(args.out), title=args.model)
    print(f"wrote {index}")


def add_parsers(sub: Any) -> None:
    """The subcommands of this module, on the CLI's subparsers."""
    p = sub.add_parser("layers", help="list every addressable layer")
    model_args(p)
    p.set_defaults(func=cmd_layers)

    p = sub.add_parser("train", help="train a built-in model (cached) and print its accuracy")
    p.add_argument("name", nargs="?", help="a built-in model name (see `neuronscope train --list`)")
    p.add_argument("--list", action="store_true", help="list the built-in models")
    p.add_argument("--retrain", action="store_true", help="ignore the cache")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("weights", help="first-layer filters or linear templates as a PNG")
    model_args(p)
    p.add_argument("layer", help="a conv or linear layer, e.g. conv1 or fc1")
    p.add_argument("--out", required=True, help="PNG file to write")
    p.set_defaults(func=cmd_weights)

    p = sub.add_parser("overview", help="write the overview page of a model")
    model_args(p)
    p.add_argument("--out", default="neuronscope-out", help="output folder")
    p.set_defaults(func=cmd_overview)
