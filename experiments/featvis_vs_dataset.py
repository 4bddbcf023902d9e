"""Do the atlas's feature visualizations beat the best natural input, layer by layer?

For every layer the atlas draws (or `--layers`), optimize images for each unit's mean
activation with the atlas's own settings (the featvis section's options: steps, starts,
learning rate, polish) and compare every start with the best dataset input under the
same measure (``ns.top_examples`` with reduce="mean", as the atlas ranks its dataset
examples). shapes-cnn is measured on the 2,000 held-out shapes images, efficientnet-lite0
on the 222 bundled photographs. Goal (issue #11): every start beats the best input for
at least 95% of the units of every layer (units that are zero for every input and every
image, which nothing can beat, are counted apart). ``--units N`` takes a seeded random sample of
N units per layer (all of efficientnet-lite0's 4,000 would take hours on 2 cores).

    .venv/bin/python experiments/featvis_vs_dataset.py [--model efficientnet-lite0]
        [--units 16] [--layers stem,block0] [--out DIR]
"""

from __future__ import annotations

import argparse
import time
import zlib
from typing import Any

import torch

import neuronscope as ns
from neuronscope.atlas.sections.featvis import FeatureVisualization
from neuronscope.methods.live import main_layers
from neuronscope.render.featvis import save_pngs

DATA = {"shapes-cnn": ("shapes", {"split": "test"}), "efficientnet-lite0": ("photos", {})}


def compare(model: torch.nn.Module, layer: str, units: list[int], settings: dict[str, Any]
            ) -> tuple[torch.Tensor, Any]:
    """Every start's value for `units` of `layer` [units, starts], and the visualization."""
    steps, starts = settings["steps"], settings["n_starts"]
    vis = ns.visualize(model, [f"{layer}:{u}" for u in units], steps=steps, n_starts=starts,
                       lr=settings["lr"], polish=int(steps * settings["polish"]),
                       progress=False)
    return vis.activations.view(len(units), starts), vis


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="shapes-cnn", choices=sorted(DATA))
    parser.add_argument("--layers", help="comma-separated (default: the atlas's layers)")
    parser.add_argument("--units", type=int, help="a random sample of this many per layer")
    parser.add_argument("--out", default="neuronscope-out/featvis-vs-dataset")
    args = parser.parse_args()
    model = ns.zoo.load(args.model)
    name, kw = DATA[args.model]
    data = ns.datasets.load(name, model=model, **kw) if name == "photos" else \
        ns.datasets.load(name, **kw)
    # the layers the live page shows: convs and linears, or a block network's blocks
    layers = args.layers.split(",") if args.layers else main_layers(model)
    settings = FeatureVisualization.options
    start = time.perf_counter()
    best = ns.top_examples(model, data, layers=layers, k=1, reduce="mean", progress=False)
    print(f"{args.model}: best of {len(data):,} {name} inputs by the mean over positions, "
          f"mined in {time.perf_counter() - start:.0f} s; atlas settings {settings}")
    failed = []
    for layer in layers:
        n = best[layer].n_units
        gen = torch.Generator().manual_seed(zlib.crc32(layer.encode()))  # a layer's own sample
        units = sorted(torch.randperm(n, generator=gen)[:args.units].tolist()) \
            if args.units and args.units < n else list(range(n))
        start = time.perf_counter()
        values, vis = compare(model, layer, units, settings)
        natural = best[layer].values[units, 0]
        wins = values.min(1).values > natural
        reach = int((values.min(1).values >= natural).sum())  # ties: a ReLU6 at 0 or 6
        ratio = (values.min(1).values / natural.clamp_min(1e-6))[natural > 0]
        # zero for every input and every image (a unit no valid image turns on, such as
        # stem:11, whose largest possible value over images is -5.9): nothing can beat it
        dead = (natural == 0) & (values.max(1).values == 0)
        live = int((~dead).sum())
        ok = live == 0 or int(wins.sum()) / live >= 0.95
        failed += [] if ok else [layer]
        print(f"  {layer:<8} every start beats the best input for {int(wins.sum()):>4} of "
              f"{len(units):>4} units ({wins.double().mean():6.1%}), {int(wins.sum())} of "
              f"{live} not zero everywhere {'ok' if ok else 'BELOW'}"
              f"; {reach} match or beat it; median ratio "
              f"{ratio.median() if len(ratio) else float('nan'):.2f}; "
              f"{time.perf_counter() - start:.0f} s", flush=True)
        losers = [f"{u} ({v:.3g} vs {b:.3g})" for u, v, b, w in zip(
            units, values.min(1).values.tolist(), natural.tolist(), wins.tolist(), strict=True)
            if not w]
        if losers:
            print(f"           natural input stronger for units {', '.join(losers)}")
        save_pngs(vis, f"{args.out}/{args.model}/{layer}")
    print(f"layers below 95%: {', '.join(failed) or 'none'} (goal: none)")


if __name__ == "__main__":
    main()
