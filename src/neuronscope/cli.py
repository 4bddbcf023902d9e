"""The `neuronscope` command: one subcommand per job.

    neuronscope layers MODEL                 list every addressable layer
    neuronscope train NAME                   train (or load) a built-in model, print accuracy
    neuronscope weights MODEL LAYER --out f.png
    neuronscope overview MODEL --out DIR     the overview page (layers, receptive fields, weights)
    neuronscope examples MODEL --data NAME --layer L --out DIR
                                             top and bottom dataset examples of every unit
    neuronscope visualize MODEL UNIT... --out DIR
                                             the synthetic image each unit wants
    neuronscope ablate MODEL --data NAME --layer L --out DIR
                                             lesion study: importance, curves, selectivity
    neuronscope atlas MODEL --data NAME --out DIR   the microscope: a page per unit
    neuronscope serve DIR [--model MODEL]    browse it, and probe the model live

MODEL is ``zoo:NAME`` (or a bare built-in name), ``path/to/file.py:factory`` with
``--weights FILE``, or ``torchvision:NAME`` when torchvision is installed.
"""

from __future__ import annotations

import argparse
import logging
import sys

from .commands.ablate import cmd_ablate
from .commands.atlas import cmd_atlas, cmd_serve
from .commands.examples import cmd_examples
from .commands.models import cmd_layers, cmd_overview, cmd_train, cmd_weights
from .commands.visualize import cmd_visualize
from .core.errors import NeuronscopeError
from .core.plugins import load_plugin


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

    def plugin_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("--plugin", action="append", default=[], metavar="MODULE_OR_FILE",
                       help="import this first: a module or .py file that registers atlas "
                       "sections of your own (repeat for several)")

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

    from .atlas.sections import section_names
    from .methods.featvis.settings import PRESETS

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

    p = sub.add_parser("ablate", help="silence units one by one and in groups (lesion study)")
    model_args(p)
    p.add_argument("--data", required=True, help="a labelled dataset name, or folder:PATH")
    p.add_argument("--split", default="test", help="train, test or all (default test)")
    p.add_argument("--layer", required=True, help="the layer whose units are silenced")
    p.add_argument("--metric", choices=["accuracy", "loss"], default="accuracy")
    p.add_argument("--value", default="0", help="what a silenced unit outputs: a number or "
                   "'mean' (its dataset mean)")
    p.add_argument("--repeats", type=int, default=5, help="random orders for the curves")
    p.add_argument("--out", default="neuronscope-out/ablate", help="output folder")
    p.set_defaults(func=cmd_ablate)

    p = sub.add_parser("atlas", help="build the microscope: a page of numbers and pictures "
                       "per unit (resumable)")
    model_args(p)
    p.add_argument("--data", required=True, help="a labelled dataset name, or folder:PATH")
    p.add_argument("--split", default="test")
    p.add_argument("--layers", nargs="+", help="layers (default: every conv and linear layer)")
    p.add_argument("--sections", help="comma-separated subset of the sections "
                   f"({','.join(section_names())}; default: all)")
    p.add_argument("--k", type=int, default=9, help="dataset examples per unit and side")
    p.add_argument("--steps", type=int, default=64, help="feature visualization steps")
    p.add_argument("--out", default="neuronscope-out/atlas", help="atlas folder")
    plugin_arg(p)
    p.set_defaults(func=cmd_atlas)

    p = sub.add_parser("serve", help="browse an atlas and probe the model live")
    p.add_argument("atlas", help="an atlas folder made by `neuronscope atlas`")
    p.add_argument("--model", help="the model, for the live page (zoo:NAME, file.py:factory)")
    p.add_argument("--weights", help="weights for file.py:factory")
    p.add_argument("--input-shape", help="input shape for a model without an InputSpec")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: this "
                   "machine only)")
    p.add_argument("--port", type=int, default=8000)
    plugin_arg(p)
    p.set_defaults(func=cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `neuronscope` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        for plugin in getattr(args, "plugin", []):
            load_plugin(plugin)
        args.func(args)
    except NeuronscopeError as err:
        print(f"neuronscope {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
