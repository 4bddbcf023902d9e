"""The evolve command: black-box evolution (XDream) of the image one unit prefers."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..core.errors import NeuronscopeError
from .common import load, model_args, positive_int, writable_folder


def cmd_evolve(args: argparse.Namespace) -> None:
    import numpy as np
    import torch

    from ..core.genomes import FourierGenome, default_genome
    from ..core.spec import input_spec
    from ..methods.evolve import evolve, unit_scorer
    from ..render.grid import image_grid, save_png

    out = writable_folder(args.out)
    model = load(args)
    spec = input_spec(model)
    if spec.kind != "image" or len(spec.shape) != 3:
        raise NeuronscopeError(f"{args.model} takes {spec.kind} inputs of shape {spec.shape}; "
                               "evolve makes images (C, H, W)")
    generation = args.population * args.repeats
    if args.budget < generation:
        raise NeuronscopeError(f"--budget {args.budget} is less than one generation (--population "
                               f"{args.population} x --repeats {args.repeats}): give --budget "
                               f">= {generation}")
    unit = unit_scorer(model, args.unit)
    noise = np.random.default_rng(args.seed)

    def score(images: torch.Tensor) -> np.ndarray:  # all evolution sees: numbers
        values = unit(images).cpu().double().numpy()
        return values + noise.normal(0.0, args.noise, len(values)) if args.noise else values

    genome = (FourierGenome(spec.shape, args.frequencies) if args.frequencies
              else default_genome(spec.shape))
    evo = evolve(score, generator=genome, budget=args.budget, seed=args.seed,
                 population=args.population, repeats=args.repeats)
    out.mkdir(parents=True, exist_ok=True)
    evo.save(out / "evolution.safetensors")
    scale = max(1, 192 // spec.shape[-1])
    save_png(image_grid(evo.best_image[None], pad=0, scale=scale, normalize=None),
             out / "best.png")
    history_plot(evo, args.unit, out / "history.png")
    write_index(out, evo, args.model, args.unit)
    print(f"{args.unit}: best score {evo.best_score:.4g} after {evo.queries} queries "
          f"({evo.generations} generations of {args.population}) -> {out}/index.html")


def history_plot(evo: Any, unit: str, path: Path) -> Path:
    """Best and mean score per generation (matplotlib, Agg), as a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from ..core.files import atomic_write

    fig = Figure(figsize=(5.5, 3.4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    gens = range(1, evo.generations + 1)
    ax.plot(gens, evo.history.tolist(), label="best of generation")
    ax.plot(gens, evo.mean_history.tolist(), label="mean of generation", alpha=0.7)
    ax.set_xlabel("generation")
    ax.set_ylabel(f"score of {unit}")
    ax.set_title(f"evolution of {unit}: {evo.queries} queries")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return atomic_write(path, lambda f: fig.savefig(f, format="png"))


def write_index(out: Path, evo: Any, model: str, unit: str) -> Path:
    """index.html: the best image, the history plot and the settings."""
    from ..render import html

    s = evo.settings
    rows = [["best score", f"{evo.best_score:.4g}"], ["queries", evo.queries],
            ["generations", evo.generations], ["generator", s["generator"]],
            ["population", s["population"]], ["repeats", s["repeats"]], ["seed", s["seed"]]]
    text = (f"<h1>Evolved stimulus of {html.esc(unit)} ({html.esc(model)})</h1>"
            "<p>Found with no gradient, from the unit's scores alone (XDream's genetic "
            "algorithm, Ponce et al. 2019).</p>"
            + html.figure("best.png", f"best image, score {evo.best_score:.4g}")
            + html.figure("history.png", "best and mean score per generation")
            + html.table(rows, ["", "value"]))
    return html.write_text(out / "index.html", html.page(f"evolve {unit}: {model}", text))


def _population(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 2:
        raise argparse.ArgumentTypeError(f"expected a whole number of 2 or more, got {text!r}")
    return int(text)


def _nonnegative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number of 0 or more, got {text!r}")
    return value


def add_parsers(sub: Any) -> None:
    """The subcommands of this module, on the CLI's subparsers."""
    p = sub.add_parser("evolve", help="evolve the image a unit prefers from its scores alone "
                       "(black box, XDream)")
    model_args(p)
    p.add_argument("unit", help="conv3:17 (a channel, averaged over positions), conv3:17@4,5 "
                   "(one neuron)")
    p.add_argument("--budget", type=positive_int, default=2000, help="images shown in all")
    p.add_argument("--population", type=_population, default=20, help="images per generation")
    p.add_argument("--repeats", type=positive_int, default=1,
                   help="presentations of each image, averaged")
    p.add_argument("--noise", type=_nonnegative_float, default=0.0,
                   help="standard deviation of noise added to each score (a noisy neuron)")
    p.add_argument("--frequencies", type=positive_int,
                   help="a Fourier genome of this many frequencies per axis (default: pixels "
                   "up to 16x16 inputs, else 4 or 8 frequencies)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="neuronscope-out/evolve", help="output folder")
    p.set_defaults(func=cmd_evolve)
