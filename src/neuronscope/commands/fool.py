"""The fool command: fooling images of a classifier (by gradient or by evolution: an
evolution strategy by default, or XDream's genetic algorithm with --search genetic)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..core.errors import NeuronscopeError
from .common import load, model_args, positive_int, writable_folder


def cmd_fool(args: argparse.Namespace) -> None:
    from ..methods.fooling import fooling_images
    from ..render import html
    from ..render.grid import image_grid, save_png

    out = writable_folder(args.out)
    # one generation: the GA's 20 codes, or the ES's 10 antithetic pairs and their centre
    generation = 20 if args.search == "genetic" else 21
    if args.method == "evolution" and args.budget is not None and args.budget < generation:
        raise NeuronscopeError(f"--budget {args.budget} is less than one generation of "
                               f"evolution ({generation} images with --search {args.search})"
                               f": give --budget >= {generation}")
    model = load(args)
    output = int(args.output) if args.output and args.output.isdigit() else args.output
    fool = fooling_images(model, args.classes, method=args.method, budget=args.budget,
                          target_confidence=args.target, seed=args.seed, search=args.search,
                          output=output)
    out.mkdir(parents=True, exist_ok=True)
    fool.save(out / "fooling.safetensors")
    scale = max(1, 128 // fool.images.shape[-1])
    save_png(image_grid(fool.images, nrow=min(len(fool.classes), 8), scale=scale,
                        normalize=None, labels=fool.labels), out / "grid.png")
    rows = []
    for i, c in enumerate(fool.classes):
        name = f"class-{c}.png"
        save_png(image_grid(fool.images[i:i + 1], pad=0, scale=scale, normalize=None),
                 out / "images" / name)
        rows.append([html.figure(f"images/{name}", fool.labels[i], width=96), c,
                     _name(fool, c), f"{float(fool.confidence[i]):.4f}",
                     int(fool.queries[i]), "yes" if fool.reached[i] else "no"])
    write_index(out, fool, args.model, rows)
    reached = int(fool.reached.sum())
    print(f"{reached} of {len(fool.classes)} classes reached {fool.target_confidence:.0%} by "
          f"{_how(fool)} -> {out}/index.html")
    for i, c in enumerate(fool.classes):
        print(f"  {c:>4} {_name(fool, c):<20} confidence {float(fool.confidence[i]):.4f}  "
              f"queries {int(fool.queries[i])}")


def _how(fool: Any) -> str:
    """"gradient", or "evolution (es)" / "evolution (genetic)": the method and its search."""
    search = fool.settings.get("search")
    return f"evolution ({search})" if fool.method == "evolution" and search else fool.method


def _name(fool: Any, c: int) -> str:
    return fool.class_names[c] if c < len(fool.class_names) else str(c)


def write_index(out: Path, fool: Any, model: str, rows: list[list[Any]]) -> Path:
    """index.html: the grid, then one row per class (image, confidence, queries)."""
    from ..render import html

    # the figure cells hold HTML: build the table by hand around escaped text
    head = "".join(f"<th>{h}</th>" for h in ("image", "class", "name", "confidence",
                                               "queries", "reached"))
    body = "".join("<tr><td>" + row[0] + "</td>" + "".join(
        f'<td class="num">{html.esc(v)}</td>' for v in row[1:]) + "</tr>" for row in rows)
    text = (f"<h1>Fooling images of {html.esc(model)}</h1>"
            f"<p>{len(fool.classes)} classes by {html.esc(_how(fool))}; target confidence "
            f"{fool.target_confidence:.0%}, at most {fool.settings['budget']} model calls per "
            "image (Nguyen, Yosinski &amp; Clune 2015).</p>"
            + html.figure("grid.png", "every class, with the confidence reached")
            + f"<table><tr>{head}</tr>{body}</table>")
    return html.write_text(out / "index.html", html.page(f"fooling images: {model}", text))


def class_list(text: str) -> list[int | str]:
    """argparse type: ``"0,1,7"`` or class names ``"circle,star"`` (numbers stay numbers)."""
    items = [s.strip() for s in text.split(",") if s.strip()]
    if not items:
        raise argparse.ArgumentTypeError(f"expected class numbers or names separated by "
                                         f"commas, such as 0,1,7, got {text!r}")
    return [int(s) if s.isdigit() else s for s in items]


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a probability between 0 and 1 (such as "
                                         f"0.99), got {text!r}")
    return value


def add_parsers(sub: Any) -> None:
    """The subcommands of this module, on the CLI's subparsers."""
    p = sub.add_parser("fool", help="fooling images: noise the classifier labels with high "
                       "confidence (gradient or black-box evolution)")
    model_args(p)
    p.add_argument("--output", help="which output holds the logits, for a model whose "
                   "output is a dict (its key) or a tuple (its index); default: 'logits'")
    p.add_argument("--classes", type=class_list, help="class numbers or names, e.g. 0,1,7 "
                   "(default: every class)")
    p.add_argument("--method", choices=["gradient", "evolution"], default="gradient")
    p.add_argument("--search", choices=["es", "genetic"], default="es",
                   help="how --method evolution searches: a natural evolution strategy over a "
                   "16x16 pixel grid (es, the default) or XDream's genetic algorithm (genetic)")
    p.add_argument("--budget", type=positive_int, help="most model calls per image "
                   "(default: 500 gradient steps, 20000 evolution queries)")
    p.add_argument("--target", type=_probability, default=0.99,
                   help="confidence at which an image stops")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="neuronscope-out/fool", help="output folder")
    p.set_defaults(func=cmd_fool)
