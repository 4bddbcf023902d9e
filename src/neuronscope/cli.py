"""The `neuronscope` command: one subcommand per job.

    neuronscope layers MODEL                 list every addressable layer
    neuronscope train NAME                   train (or load) a built-in model, print accuracy
    neuronscope weights MODEL LAYER --out f.png
    neuronscope overview MODEL --out DIR     the overview page (layers, receptive fields, weights)
    neuronscope examples MODEL --data NAME --layer L --out DIR
                                             top and bottom dataset examples of every unit
    neuronscope visualize MODEL UNIT... --out DIR
                                             the synthetic image each unit wants

MODEL is ``zoo:NAME`` (or a bare built-in name), ``path/to/file.py:factory`` with
``--weights FILE``, or ``torchvision:NAME`` when torchvision is installed.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from pathlib import Path

from torch import nn

from .core.errors import NeuronscopeError


def _load(args: argparse.Namespace, need_spec: bool = True) -> nn.Module:
    import dataclasses
    import difflib

    from . import zoo
    from .core.model import load_model
    from .core.spec import InputSpec, attach_spec, input_spec

    spec = args.model
    if ":" not in spec:
        if spec not in zoo.names():
            close = difflib.get_close_matches(spec, zoo.names(), n=1, cutoff=0.5)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise NeuronscopeError(
                f"no built-in model {spec!r}.{hint} Built-in models: {', '.join(zoo.names())}; "
                "or give file.py:factory or torchvision:NAME"
            )
        spec = f"zoo:{spec}"
    model = load_model(spec, weights=args.weights)
    old = input_spec(model)
    if args.input_shape:
        shape = _shape(args.input_shape)
        if old is not None:
            new = dataclasses.replace(old, shape=shape)
        else:
            new = InputSpec(shape=shape, kind="image" if len(shape) == 3 else "vector")
        attach_spec(model, new)
    elif old is None and need_spec:
        raise NeuronscopeError(
            f"{args.model} carries no input description: give its input shape without the "
            "batch axis, e.g. --input-shape 3,64,64"
        )
    return model


def _shape(text: str) -> tuple[int, ...]:
    parts = [s.strip() for s in re.split(r"[,x]", text)]
    shape = tuple(int(s) for s in parts) if all(s.isdigit() for s in parts) else ()
    if not shape or any(s < 1 for s in shape):
        raise NeuronscopeError(
            f"--input-shape {text!r}: expected positive sizes without the batch axis, "
            "such as 3,64,64 (an image) or 64 (a vector)"
        )
    return shape


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(line.format(*r) for r in [header, *rows])


def cmd_layers(args: argparse.Namespace) -> None:
    from .core.layers import layers
    from .core.receptive import receptive_field

    model = _load(args)
    rows = []
    for info in layers(model):
        rf = ""
        if len(info.shape) >= 2 and info.unit_axis == 1:
            try:
                field = receptive_field(model, info.name)
                rf = "x".join(map(str, field.size)) + " /" + "x".join(map(str, field.stride))
            except NeuronscopeError:
                rf = "?"
        shape = "x".join(map(str, info.shape))
        rows.append([info.name, info.kind, info.module_type, shape, str(info.n_units), rf])
    print(_table(rows, ["layer", "kind", "module", "shape", "units", "receptive field /stride"]))


def cmd_train(args: argparse.Namespace) -> None:
    from . import zoo

    if args.list or not args.name:
        for name in zoo.names():
            print(f"{name:<12} {zoo.recipe(name).description}")
        return
    _, metrics = zoo.train(args.name, retrain=args.retrain, progress=not args.quiet)
    seconds = f"{metrics['seconds']:.1f} s"
    source = f"cached; trained in {seconds}" if metrics.get("cached") else f"trained in {seconds}"
    print(f"{args.name}: test accuracy {metrics['test_accuracy']:.4f} ({source})")
    print(f"weights: {metrics['cache_path']}")


def cmd_weights(args: argparse.Namespace) -> None:
    from .core.spec import input_spec
    from .core.units import Unit, find_module
    from .render.grid import save_png
    from .render.weights import weight_image

    model = _load(args, need_spec=False)
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
    from .atlas.overview import write_overview

    model = _load(args)
    index = write_overview(model, Path(args.out), title=args.model)
    print(f"wrote {index}")


def _units(text: str | None) -> list[int] | None:
    if not text:
        return None
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        if not lo.strip().isdigit() or (hi and not hi.strip().isdigit()):
            raise NeuronscopeError(f"--units {text!r}: expected numbers and ranges, e.g. 0-15,40")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def cmd_examples(args: argparse.Namespace) -> None:
    from . import data
    from .atlas.examples_page import write_examples
    from .core.spec import attach_spec, input_spec
    from .methods.examples import top_examples

    model = _load(args, need_spec=False)
    dataset = data.load(args.data, split=args.split)
    if input_spec(model) is None and getattr(dataset, "spec", None) is not None:
        attach_spec(model, dataset.spec)
    out = Path(args.out)
    checkpoint = Path(args.checkpoint) if args.checkpoint else out / "examples.ckpt"
    which = ", ".join(args.layer) if args.layer else "every conv, linear and recurrent layer"
    print(f"mining {which} of {args.model} over {len(dataset):,} {args.data} inputs "
          f"(resumable: {checkpoint})")
    res = top_examples(model, dataset, layers=args.layer, k=args.k, reduce=args.reduce,
                       batch_size=args.batch_size, checkpoint=checkpoint)
    saved = res.save(out / "examples.safetensors")
    if not args.checkpoint:
        checkpoint.unlink(missing_ok=True)  # the result is saved: a rerun starts afresh
    units = _units(args.units)
    if units is not None:
        for name in res:
            bad = [u for u in units if u >= res[name].n_units]
            if bad:
                raise NeuronscopeError(f"--units: {name} has units 0-{res[name].n_units - 1}, "
                                       f"not {bad[0]}")
    folders = write_examples(model, dataset, res, out,
                             units={name: units for name in res} if units else None)
    print(f"mined {len(dataset):,} {args.data} items; examples of {len(folders)} layers:")
    for name, folder in folders.items():
        print(f"  {name:<12} {res[name].n_units:>5} units -> {folder}/")
    print(f"results: {saved}  (load with ns.TopExamples.load)")
    print(f"open {out / 'index.html'}")


def cmd_visualize(args: argparse.Namespace) -> None:
    from .methods.featvis import visualize

    model = _load(args, need_spec=False)
    size = _shape(args.size) if args.size else None
    if size is not None and len(size) not in (1, 2):
        raise NeuronscopeError(f"--size {args.size!r}: one number or H,W")
    vis = visualize(model, args.units, size=(size[0] if size and len(size) == 1 else size),
                    steps=args.steps, seed=args.seed, n_starts=args.n_starts,
                    negative=args.negative, preset=args.preset, param=args.param)
    folder = vis.save(args.out)
    print(f"{len(vis.images)} images of {len(vis.targets)} targets, {args.steps} steps -> "
          f"{folder}/grid.png")
    for label, value in zip(vis.labels, vis.activations.tolist(), strict=True):
        print(f"  {label:<24} activation {value:.4g}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="neuronscope",
        description="Neuroscience on artificial neural networks.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = parser.add_subparsers(dest="command", required=True)

    def model_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("model", help="zoo:NAME, a built-in name, file.py:factory, torchvision:NAME")
        p.add_argument("--weights", help="safetensors or .pt state dict for file.py:factory")
        p.add_argument("--input-shape", metavar="C,H,W",
                       help="input shape without batch, for a model that carries no InputSpec")

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

    p = sub.add_parser("examples", help="the dataset inputs that drive each unit most and least")
    model_args(p)
    p.add_argument("--data", required=True, help="a dataset name (shapes, digits, ...) or "
                   "folder:PATH")
    p.add_argument("--split", default="test", help="train, test or all (default test)")
    p.add_argument("--layer", action="append", help="a layer (repeat for several; default: "
                   "every conv, linear and recurrent layer)")
    p.add_argument("--k", type=int, default=9, help="examples per unit and side (default 9)")
    p.add_argument("--reduce", choices=["max", "mean"], default="max",
                   help="how a unit's map becomes one number per input")
    p.add_argument("--units", help="units to draw, e.g. 0-15,40 (default: all)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--checkpoint", help="resume file (default OUT/examples.ckpt)")
    p.add_argument("--out", default="neuronscope-out/examples", help="output folder")
    p.set_defaults(func=cmd_examples)

    from .methods.featvis.render import PRESETS

    p = sub.add_parser("visualize", help="synthesize the image each unit wants (feature "
                       "visualization)")
    model_args(p)
    p.add_argument("units", nargs="+", help="targets: conv3:17 (a channel), conv3:17@4,5 "
                   "(one neuron), conv3 (the layer, DeepDream), 'conv3:1+conv3:2' (both)")
    p.add_argument("--steps", type=int, default=256)
    p.add_argument("--size", help="image size: N or H,W (default: the model's input size)")
    p.add_argument("--preset", default="lucid", choices=sorted(PRESETS))
    p.add_argument("--param", choices=["fourier", "pixel"], help="override the preset's")
    p.add_argument("--n-starts", type=int, default=1, help="random starts per unit")
    p.add_argument("--negative", action="store_true", help="minimize: what turns units off")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="neuronscope-out/visualize", help="output folder")
    p.set_defaults(func=cmd_visualize)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `neuronscope` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        args.func(args)
    except NeuronscopeError as err:
        print(f"neuronscope {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
