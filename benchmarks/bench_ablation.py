"""A full single-unit ablation sweep, split at the layer versus the naive loop, in one run.

Every unit of shapes-cnn's last conv layer (conv4, 96 units) is silenced in turn and
the accuracy measured on shapes test images. ``ns.unit_sweep`` computes the layer's
input once per batch and runs only the network above it, 64 variants at a time; the
naive loop runs the whole model once per unit with an ablation hook. Both must give
the same accuracies; the script prints the time ratio (goal: at least 5x faster).

    .venv/bin/python benchmarks/bench_ablation.py [--n 1000] [--layer conv4]
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.data import DataLoader

import neuronscope as ns


def naive(model: torch.nn.Module, data: torch.utils.data.Dataset, layer: str, units: int,
          batch_size: int) -> torch.Tensor:
    out = []
    for u in range(units):
        correct = n = 0
        with ns.ablate(model, f"{layer}:{u}"), torch.no_grad():
            for x, y in DataLoader(data, batch_size=batch_size):
                correct += int((model(x).argmax(1) == y).sum())
                n += len(y)
        out.append(correct / n)
    return torch.tensor(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--layer", default="conv4")
    parser.add_argument("--batch", type=int, default=250)
    args = parser.parse_args()
    model = ns.zoo.load("shapes-cnn")
    data = ns.datasets.load("shapes", split="test", n=args.n)
    data.tensors()  # draw the images once, outside the timings
    units = {i.name: i.n_units for i in ns.layers(model)}[args.layer]
    start = time.perf_counter()
    _, fast = ns.unit_sweep(model, data, args.layer, batch_size=args.batch, progress=False)
    t_fast = time.perf_counter() - start
    start = time.perf_counter()
    slow = naive(model, data, args.layer, units, args.batch)
    t_slow = time.perf_counter() - start
    same = torch.allclose(fast, slow, atol=1e-6)
    print(f"shapes-cnn {args.layer}: {units} units silenced one at a time, accuracy on "
          f"{args.n:,} test images, batch {args.batch}, {torch.get_num_threads()} threads")
    print(f"  split sweep {t_fast:.1f} s, naive loop {t_slow:.1f} s: {t_slow / t_fast:.1f}x "
          f"faster (goal >= 5x); same accuracies: {same}")


if __name__ == "__main__":
    main()
