"""Does feature visualization find stimuli stronger than any natural one?

For every unit of the last two conv layers of shapes-cnn (conv3, conv4: 192 units),
optimize an image for the unit's mean activation (``ns.visualize``, default "lucid"
preset) and compare it with the best of 2,000 held-out shapes images under the same
measure (``ns.top_examples`` with reduce="mean"). Acceptance: the synthetic image wins
for at least 90% of the units.

    .venv/bin/python experiments/featvis_vs_dataset.py [--steps 256] [--out DIR]
"""

from __future__ import annotations

import argparse
import time

import torch

import neuronscope as ns
from neuronscope.render.featvis import save_pngs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=256)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--out", default="neuronscope-out/featvis-vs-dataset")
    args = parser.parse_args()
    model = ns.zoo.load("shapes-cnn")
    data = ns.datasets.load("shapes", split="test", n=args.n)
    layers = ["conv3", "conv4"]
    start = time.perf_counter()
    best = ns.top_examples(model, data, layers=layers, k=1, reduce="mean", progress=False)
    mined = time.perf_counter() - start
    units = [f"{name}:{u}" for name in layers for u in range(best[name].n_units)]
    start = time.perf_counter()
    vis = ns.visualize(model, units, steps=args.steps)
    took = time.perf_counter() - start
    natural = torch.cat([best[name].values[:, 0].double() for name in layers])
    synthetic = vis.activations.double()
    wins = synthetic > natural
    print(f"{len(units)} units of {', '.join(layers)}; best of {args.n:,} shapes test images "
          f"(mined in {mined:.1f} s) vs one synthetic image per unit ({args.steps} steps, "
          f"{took:.1f} s for all, {torch.get_num_threads()} threads)")
    for name in layers:
        part = [i for i, u in enumerate(units) if u.startswith(name + ":")]
        print(f"  {name}: synthetic wins for {int(wins[part].sum())} of {len(part)} units")
    ratio = (synthetic / natural.clamp_min(1e-6))[natural > 0]
    print(f"  all: {int(wins.sum())} of {len(units)} ({wins.double().mean():.1%}); median "
          f"synthetic / natural activation {ratio.median():.2f} (goal: wins >= 90%)")
    losers = [u for u, w in zip(units, wins.tolist(), strict=True) if not w]
    if losers:
        print(f"  natural image stronger for: {', '.join(losers)}")
    save_pngs(vis, args.out)
    print(f"  images: {args.out}/grid.png")


if __name__ == "__main__":
    main()
