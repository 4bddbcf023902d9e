"""The visualize command: feature visualization of units."""

from __future__ import annotations

import argparse
from typing import Any

from ..core.errors import NeuronscopeError
from .common import load, model_args, nonnegative_int, positive_int, shape, writable_folder


def cmd_visualize(args: argparse.Namespace) -> None:
    from ..core.spec import input_spec
    from ..methods.featvis import visualize
    from ..render.featvis import save_pngs

    writable_folder(args.out)
    size = _size(args.size)
    model = load(args, need_spec=False)
    vis = visualize(model, args.units, size=(size[0] if size and len(size) == 1 else size),
                    steps=args.steps, seed=args.seed, n_starts=args.n_starts,
                    negative=args.negative, preset=args.preset, param=args.param)
    folder = save_pngs(vis, args.out, input_spec(model))
    print(f"{len(vis.images)} images of {len(vis.targets)} targets, {args.steps} steps -> "
          f"{folder}/grid.png")
    for label, value in zip(vis.labels, vis.activations.tolist(), strict=True):
        print(f"  {label:<24} activation {value:.4g}")


def _size(text: str | None) -> tuple[int, ...] | None:
    if not text:
        return None
    try:
        size = shape(text)
    except NeuronscopeError:
        size = ()
    if len(size) not in (1, 2):
        raise NeuronscopeError(f"--size {text!r}: expected one positive number or H,W, "
                               "such as 64 or 64,96")
    return size


def add_parsers(sub: Any) -> None:
    """The subcommands of this module, on the CLI's subparsers."""
    from ..methods.featvis.settings import PRESETS

    p = sub.add_parser("visualize", help="synthesize the image each unit wants (feature "
                       "visualization)")
    model_args(p)
    p.add_argument("units", nargs="+", help="targets: conv3:17 (a channel), conv3:17@4,5 "
                   "(one neuron), conv3 (the layer, DeepDream), 'conv3:1+conv3:2' (both)")
    p.add_argument("--steps", type=nonnegative_int, default=256)
    p.add_argument("--size", help="image size: N or H,W (default: the model's input size)")
    p.add_argument("--preset", default="lucid", choices=sorted(PRESETS))
    p.add_argument("--param", choices=["fourier", "pixel"], help="override the preset's")
    p.add_argument("--n-starts", type=positive_int, default=1, help="random starts per unit")
    p.add_argument("--negative", action="store_true", help="minimize: what turns units off")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="neuronscope-out/visualize", help="output folder")
    p.set_defaults(func=cmd_visualize)
