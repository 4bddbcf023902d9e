"""The `neuronscope` command: one subcommand per job.

    neuronscope layers MODEL                 list every addressable layer
    neuronscope train NAME                   train (or load) a built-in model, print accuracy
    neuronscope weights MODEL LAYER --out f.png
    neuronscope overview MODEL --out DIR     the overview page (layers, receptive fields, weights)
    neuronscope examples MODEL --data NAME --layer L --out DIR
                                             top and bottom dataset examples of every unit
    neuronscope visualize MODEL UNIT... --out DIR
                                             the synthetic image each unit wants
    neuronscope dream MODEL LAYER --image PHOTO|PATH --out DIR
                                             DeepDream at the image's own size
    neuronscope project MODEL UNIT --image PHOTO|PATH --out DIR
                                             which pixels drive a unit (guided, deconvnet)
    neuronscope invert MODEL LAYER --image PHOTO|PATH (or --data NAME --index I) --out DIR
                                             reconstruct an image from a layer
    neuronscope fool MODEL [--classes 0,1] [--method gradient|evolution] --out DIR
                                             noise the classifier labels with 99% confidence
    neuronscope evolve MODEL UNIT --out DIR  the image a unit prefers, from its scores alone
    neuronscope ablate MODEL --data NAME --layer L --out DIR
                                             lesion study: importance, curves, selectivity
    neuronscope dissect MODEL --concepts NAME|PATH [--layers L..] --out DIR
                                             label units with concepts, checked causally
    neuronscope lca MODEL --epochs N --out DIR  train a built-in model with loss change
                                             allocation: which layers helped or hurt
    neuronscope atlas MODEL --data NAME --out DIR   the microscope: a page per unit
    neuronscope serve DIR [--model MODEL]    browse it, and probe the model live

MODEL is ``zoo:NAME`` (or a bare built-in name), ``path/to/file.py:factory`` with
``--weights FILE``, or ``torchvision:NAME`` when torchvision is installed.
``--data folder:PATH`` images take the model's input size and normalization
(its InputSpec); --image-size, --mean and --std set or override them.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import NoReturn

from .commands import (
    ablate,
    atlas,
    dissect,
    dream,
    evolve,
    examples,
    fool,
    invert,
    lca,
    models,
    project,
    visualize,
)
from .core.errors import NeuronscopeError
from .core.plugins import load_plugin


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (what was wrong, where to read more)
    rather than the usage block; exit status 2 as argparse's."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The `neuronscope` argument parser, with one subparser per command."""
    parser = Parser(
        prog="neuronscope",
        description="Neuroscience on artificial neural networks.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in (models, examples, visualize, dream, project, invert, fool, evolve, ablate,
                   dissect, lca, atlas):
        module.add_parsers(sub)
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
