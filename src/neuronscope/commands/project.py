"""The project command: which pixels of one image drive a unit, by guided backprop, the
deconvnet and the gradient, as pictures (gray at zero) and a small page."""

from __future__ import annotations

import argparse
from typing import Any

from ..core.errors import NeuronscopeError
from .common import load, model_args, writable_folder
from .images import read_image

ALL = "all"


def cmd_project(args: argparse.Namespace) -> None:
    from ..core.model import model_device
    from ..core.spec import input_spec
    from ..methods.projection import RULES, project
    from ..render.grid import image_grid, save_png
    from ..render.html import figure, page, table, write_text

    out = writable_folder(args.out)
    model = load(args)
    spec = input_spec(model)
    if spec is None or spec.kind != "image" or len(spec.shape) != 3:
        raise NeuronscopeError(f"{args.model} does not take images (its input: "
                               f"{spec.kind if spec else 'unknown'} of shape "
                               f"{spec.shape if spec else '?'}); project needs C,H,W images")
    image = read_image(args.image, spec.shape[0], size=tuple(spec.shape[1:]))
    lo, hi = spec.value_range
    x = spec.to_model((lo + (hi - lo) * image).unsqueeze(0)).to(model_device(model))
    methods = list(RULES) if args.method == ALL else [args.method]
    scale = max(1, 256 // max(spec.shape[1:]))
    out.mkdir(parents=True, exist_ok=True)
    save_png(image_grid(image.unsqueeze(0), pad=0, scale=scale, normalize=None),
             out / "input.png")
    figures, rows = [figure("input.png", f"input: {args.image}")], []
    for method in methods:
        p = project(model, x, args.unit, method=method)
        method = p.method  # "deconv" is "deconvnet"
        p.save(out / f"{method}.safetensors")
        save_png(image_grid(p.attribution, pad=0, scale=scale, normalize="symmetric"),
                 out / f"{method}.png")
        top = p.attribution.abs().max().item()
        figures.append(figure(f"{method}.png", f"{method} (gray: zero; +-{top:.3g})"))
        others = ", ".join(f"{n} x{k}" for n, k in p.others.items()) or "none"
        rows.append([method, p.relus, others, f"{top:.4g}"])
        print(f"  {method:<10} ReLUs on the path {p.relus:>3}, other nonlinearities: "
              f"{others}; largest |value| {top:.4g}")
    body = (f"<h1>Projection of {args.unit}</h1><p>model {args.model}, image "
            f"{args.image}; each projection drawn with gray at zero, scaled to its largest "
            "magnitude.</p>" + "".join(figures)
            + table(rows, ["method", "ReLUs on the path", "other nonlinearities (plain "
                           "gradient)", "largest |value|"], numeric=[1, 3]))
    index = write_text(out / "index.html", page(f"projection of {args.unit}", body))
    print(f"{len(methods)} projection(s) of {args.unit} -> {index}")


def add_parsers(sub: Any) -> None:
    """The subcommands of this module, on the CLI's subparsers."""
    from ..methods.projection import RULES

    p = sub.add_parser("project", help="which pixels of an image drive a unit (guided "
                       "backprop, deconvnet, gradient)")
    model_args(p)
    p.add_argument("unit", help="conv3:17 (the channel, summed over positions) or "
                   "conv3:17@4,5 (one position)")
    p.add_argument("--image", required=True, metavar="PATH_OR_PHOTO",
                   help="an image file, or a bundled photo such as astronaut")
    p.add_argument("--method", default=ALL, choices=[*RULES, "deconv", ALL],
                   help="the backward rule at every ReLU (default: all three)")
    p.add_argument("--out", default="neuronscope-out/project", help="output folder")
    p.set_defaults(func=cmd_project)
