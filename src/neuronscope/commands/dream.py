"""The dream command: DeepDream of a photograph or an image file, at its own size."""

from __future__ import annotations

import argparse
from typing import Any

from .common import load, model_args, nonnegative_int, positive_float, positive_int, writable_folder
from .images import read_image


def cmd_dream(args: argparse.Namespace) -> None:
    from ..core.spec import input_spec
    from ..methods.deepdream import deepdream
    from ..render.grid import image_grid, save_png
    from ..render.html import esc, figure, page, table, write_text

    out = writable_folder(args.out)
    model = load(args, need_spec=False)
    spec = input_spec(model)
    channels = spec.channels if spec is not None and spec.kind == "image" else 3
    image = read_image(args.image, channels, max_side=args.max_side)
    dream = deepdream(model, image, args.target, octaves=args.octaves,
                      octave_scale=args.octave_scale, steps=args.steps, lr=args.lr,
                      jitter=args.jitter, seed=args.seed)
    out.mkdir(parents=True, exist_ok=True)
    dream.save(out / "dream.safetensors")
    for name, picture in (("source", dream.source), ("dream", dream.images)):
        save_png(image_grid(picture, nrow=1, pad=0, normalize=None), out / f"{name}.png")
    rows = [[k + 1, f"{h}x{w}", f"{float(a):.4g}", f"{float(b):.4g}"]
            for k, ((h, w), a, b) in enumerate(zip(dream.sizes, dream.start[:, 0],
                                                   dream.reached[:, 0], strict=True))]
    h, w = dream.images.shape[2:]
    body = (f"<h1>DeepDream of {esc(args.target)}</h1><p>{esc(args.model)}, image "
            f"{esc(args.image)} ({h}x{w}); {dream.settings['objective']} of "
            f"{esc(dream.target)}, {args.octaves} octaves of {args.octave_scale:g}, "
            f"{args.steps} steps each at {args.lr:g}, seed {args.seed}</p>"
            f"{figure('source.png', 'source')}{figure('dream.png', 'dream')}"
            + table(rows, ["octave", "size", "objective at start", "reached"], [2, 3]))
    write_text(out / "index.html", page(f"DeepDream {args.target}", body))
    print(f"dreamed {dream.target} into {args.image} ({h}x{w}) -> {out}/dream.png, "
          f"{out}/index.html")
    print(f"  objective {float(dream.start[0, 0]):.4g} -> {float(dream.reached[-1, 0]):.4g}")


def _scale(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 1 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number above 1 (such as 1.4), got "
                                         f"{text!r}")
    return value


def add_parsers(sub: Any) -> None:
    """The subcommands of this module, on the CLI's subparsers."""
    p = sub.add_parser("dream", help="DeepDream: amplify what a layer sees in an image")
    model_args(p)
    p.add_argument("target", metavar="LAYER_OR_UNIT",
                   help="conv3 (the layer: its mean squared activation) or conv3:17 (a "
                   "channel's mean)")
    p.add_argument("--image", required=True, metavar="PATH_OR_PHOTO",
                   help="an image file or a bundled photo name (astronaut, chelsea, ...)")
    p.add_argument("--max-side", type=positive_int, metavar="N",
                   help="scale the image down to N pixels on its longer side (default: "
                   "its own size)")
    p.add_argument("--octaves", type=positive_int, default=4)
    p.add_argument("--octave-scale", type=_scale, default=1.4)
    p.add_argument("--steps", type=nonnegative_int, default=10, help="steps per octave")
    p.add_argument("--lr", type=positive_float, default=0.01, help="step size (display units)")
    p.add_argument("--jitter", type=nonnegative_int, default=32, help="random roll, pixels")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="neuronscope-out/dream", help="output folder")
    p.set_defaults(func=cmd_dream)
