"""Overhead of recording and ablation hooks on a forward pass, measured side by side.

Runs the shapes-cnn architecture (random weights: nothing is trained) on one batch,
plain and inside ``ns.record`` / ``ns.ablate``, interleaving the variants so that
machine noise hits them alike, and prints each variant's median time as a ratio to
the plain pass.

    .venv/bin/python benchmarks/bench_record.py [--batch 256] [--repeats 30] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

import torch

import neuronscope as ns
from neuronscope.zoo import shapes_cnn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()

    torch.manual_seed(0)
    model = shapes_cnn(7).eval().to(args.device)
    x = torch.rand(args.batch, 3, 64, 64, device=args.device)
    every = [info.name for info in ns.layers(model, x[:1])]
    variants: dict[str, Callable[[], AbstractContextManager]] = {
        "plain forward": nullcontext,
        "record 1 layer (conv3)": lambda: ns.record(model, ["conv3"]),
        "record 1 unit (conv3:5)": lambda: ns.record(model, ["conv3:5"]),
        f"record all {len(every)} layers": lambda: ns.record(model, every),
        f"record all {len(every)} layers to cpu": lambda: ns.record(model, every, to="cpu"),
        "ablate 10 units of conv3": lambda: ns.ablate(model, [f"conv3:{u}" for u in range(10)]),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)
    with torch.no_grad():
        for _ in range(3):  # warm-up
            model(x)
        for _ in range(args.repeats):
            for name, make in variants.items():
                sync()
                start = time.perf_counter()
                with make():
                    model(x)
                sync()
                times[name].append(time.perf_counter() - start)
    base = statistics.median(times["plain forward"])
    print(f"device {args.device}, batch {args.batch}, {args.repeats} repeats, "
          f"{torch.get_num_threads()} threads; median time and ratio to the plain pass")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:<34} {median * 1e3:8.2f} ms   x{median / base:.2f}")


if __name__ == "__main__":
    main()
