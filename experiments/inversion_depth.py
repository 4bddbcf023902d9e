"""What does each layer keep? Invert held-out images from every conv layer and the linear
layers of a built-in model (Mahendran & Vedaldi 2015).

The known result: early layers invert nearly perfectly, deep ones keep only the gist
(where the shapes are, not their colours or edges). For each layer, `ns.invert` with its
default settings reconstructs `--n` test images from noise; the table gives the mean
Pearson correlation with the original in the model's input space and the mean normalized
representation distance |phi(x') - phi(x)|^2 / |phi(x)|^2. Goal (issue #13): correlation
>= 0.8 from the first conv layer, measurably lower from the deepest. The grid (one row of
originals, then one row of reconstructions per layer) goes to --out/inversion_depth.png.

    .venv/bin/python experiments/inversion_depth.py [--model shapes-cnn] [--n 8]
        [--layers conv1,conv2] [--steps 400] [--out DIR]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

import neuronscope as ns
from neuronscope.methods.invert import invert  # ns.invert
from neuronscope.render.grid import image_grid, save_png

DATA = {"shapes-cnn": "shapes", "digits-cnn": "digits"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="shapes-cnn", choices=sorted(DATA))
    parser.add_argument("--n", type=int, default=8, help="test images to invert")
    parser.add_argument("--layers", help="comma-separated (default: every conv and linear)")
    parser.add_argument("--steps", type=int, help="default: invert's")
    parser.add_argument("--out", default="neuronscope-out/inversion_depth")
    args = parser.parse_args()
    model = ns.zoo.load(args.model)
    data = ns.datasets.load(DATA[args.model], split="test", model=model)
    spec = ns.input_spec(model)
    x = spec.to_display(torch.stack([data[i][0] for i in range(args.n)]))
    layers = args.layers.split(",") if args.layers else [
        info.name for info in ns.layers(model) if info.kind in ("conv", "linear")]
    options = {"steps": args.steps} if args.steps else {}
    rows, results = [], []
    print(f"{args.model}: {args.n} test images of {DATA[args.model]}, inverted from each layer")
    print(f"{'layer':<8} {'shape':<14} {'correlation':>11} {'(min-max)':>13} {'distance':>9}"
          f" {'lambda_tv':>9} {'seconds':>8}")
    for layer in layers:
        start = time.perf_counter()
        inv = invert(model, x, layer, progress=False, **options)
        took = time.perf_counter() - start
        corr, dist = inv.correlation, inv.distance
        shape = "x".join(map(str, next(i.shape for i in ns.layers(model) if i.name == layer)))
        spread = f"({corr.min():.2f}-{corr.max():.2f})"
        print(f"{layer:<8} {shape:<14} {corr.mean():>11.3f} {spread:>13} {dist.mean():>9.4f} "
              f"{inv.settings['lambda_tv']:>9g} {took:>8.1f}", flush=True)
        rows.append((layer, float(corr.mean())))
        results.append(inv)
    grid = torch.cat([x.cpu()] + [inv.images for inv in results])
    labels = ["original"] * len(x) + [inv.layer for inv in results for _ in range(len(x))]
    lo, hi = spec.value_range
    out = save_png(image_grid((grid - lo) / (hi - lo), nrow=len(x), normalize=None, scale=2,
                              labels=labels), Path(args.out) / "inversion_depth.png")
    first, deepest = rows[0], rows[-1]
    ok = first[1] >= 0.8 and deepest[1] < first[1] - 0.1
    print(f"first layer {first[0]} {first[1]:.3f} (goal >= 0.8), deepest {deepest[0]} "
          f"{deepest[1]:.3f} (goal: measurably lower): {'ok' if ok else 'NOT MET'}")
    print(f"grid: {out}")


if __name__ == "__main__":
    main()
