"""The invert command: reconstruct an image from one layer's representation of it."""

from __future__ import annotations

import argparse
from typing import Any

import torch

from ..core.errors import NeuronscopeError
from ..core.spec import InputSpec
from .common import load, model_args, nonnegative_int, positive_float, positive_int, writable_folder
from .images import read_image


def cmd_invert(args: argparse.Namespace) -> None:
    from ..core.spec import input_spec
    from ..methods.invert import invert
    from ..render.grid import image_grid, save_png
    from ..render.html import esc, figure, page, table, write_text

    out = writable_folder(args.out)
    model = load(args)
    spec = input_spec(model)
    if spec is None or spec.kind != "image":
        raise NeuronscopeError(f"invert reconstructs images; {args.model} takes "
                               f"{spec.kind if spec else 'unknown'} input")
    x, source = read_input(args, model, spec)
    inv = invert(model, x, args.layer, steps=args.steps, lr=args.lr, seed=args.seed)
    out.mkdir(parents=True, exist_ok=True)
    inv.save(out / "inversion.safetensors")
    lo, hi = spec.value_range
    zoom = max(1, 192 // max(x.shape[-2:]))
    for name, picture in (("original", inv.originals), ("reconstruction", inv.images)):
        save_png(image_grid((picture - lo) / (hi - lo), nrow=1, pad=0, scale=zoom,
                            normalize=None), out / f"{name}.png")
    corr, dist = float(inv.correlation[0]), float(inv.distance[0])
    s = inv.settings
    rows = [["layer", inv.layer], ["correlation with the original (model input space)",
            f"{corr:.3f}"], ["representation distance |phi(x') - phi(x)|^2 / |phi(x)|^2",
            f"{dist:.4g}"], ["steps, lr", f"{s['steps']}, {s['lr']:g}"],
            ["lambda_alpha (alpha), lambda_tv (beta)",
             f"{s['lambda_alpha']:.3g} ({s['alpha']:g}), {s['lambda_tv']:.3g} ({s['beta']:g})"],
            ["seed", s["seed"]]]
    body = (f"<h1>Inversion of {esc(args.layer)}</h1><p>{esc(args.model)}, {esc(source)}: "
            "the image found from noise whose representation at the layer matches the "
            "original's (Mahendran &amp; Vedaldi 2015)</p>"
            f"{figure('original.png', 'original')}"
            f"{figure('reconstruction.png', f'reconstruction from {inv.layer}')}"
            + table(rows, ["", "value"]))
    write_text(out / "index.html", page(f"Inversion of {args.layer}", body))
    print(f"inverted {source} from {inv.layer}: correlation {corr:.3f}, distance {dist:.4g} "
          f"-> {out}/index.html")


def read_input(args: argparse.Namespace, model: Any, spec: InputSpec) -> tuple[torch.Tensor, str]:
    """The image to invert, display space [C, H, W] at the model's size, and its name:
    ``--image`` (a file or a bundled photo, centre-cropped and resized) or ``--data`` item
    ``--index``."""
    if args.image is not None:
        if spec.channels not in (1, 3) or len(spec.shape) != 3:
            raise NeuronscopeError(f"--image makes 1- or 3-channel images; the model takes "
                                   f"{'x'.join(map(str, spec.shape))}: use --data")
        lo, hi = spec.value_range
        x = read_image(args.image, spec.channels, size=tuple(spec.shape[1:]))
        return lo + (hi - lo) * x, args.image
    from .. import data

    dataset = data.load(args.data, split=args.split, model=model)
    if not 0 <= args.index < len(dataset):
        raise NeuronscopeError(f"--index {args.index}: {args.data} ({args.split}) has "
                               f"{len(dataset)} items, 0-{len(dataset) - 1}")
    item = dataset[args.index]
    x = item["image"] if isinstance(item, dict) else item[0] if isinstance(item, (tuple, list)) \
        else item
    return spec.to_display(x), f"{args.data} {args.split} item {args.index}"


def add_parsers(sub: Any) -> None:
    """The subcommands of this module, on the CLI's subparsers."""
    from ..data.base import SPLITS

    p = sub.add_parser("invert", help="reconstruct an image from a layer's representation "
                       "(Mahendran & Vedaldi 2015)")
    model_args(p)
    p.add_argument("layer", help="the layer whose output is inverted: conv2, fc5, ...")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--image", metavar="PATH_OR_PHOTO",
                        help="an image file or a bundled photo name (astronaut, chelsea, ...)")
    source.add_argument("--data", help="a dataset name (shapes, digits, photos, "
                        "folder:PATH); its item --index")
    p.add_argument("--split", default="test", choices=SPLITS, help="for --data; default test")
    p.add_argument("--index", type=nonnegative_int, default=0, help="for --data; default 0")
    p.add_argument("--steps", type=positive_int, default=400)
    p.add_argument("--lr", type=positive_float, default=0.004)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="neuronscope-out/invert", help="output folder")
    p.set_defaults(func=cmd_invert)
