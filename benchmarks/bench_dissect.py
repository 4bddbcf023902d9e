"""Cost of network dissection, measured side by side in one run.

(a) ``ns.dissect`` of every conv layer of shapes-cnn over the shapes concept data (the
    test split's 2,000 scenes with their 20 concept masks), divided by bare forward
    passes over the same data (goal <= 1.5). A dissection reads the data twice (the
    thresholds, then the IoU tallies), so the ratio is taken against two bare passes;
    the ratio against one is printed too. Each bare pass reads the items as the
    dissection does (masks included). The dissection analyses each batch in a worker
    thread while the next one loads and runs; the bare pass has no analysis to overlap.
    Interleaved rounds, the median of each.
(b) Peak resident memory (a fresh process each) of dissecting N and 4N scenes drawn on
    the fly, so the dataset itself holds nothing (goal: flat). The thresholds are exact
    while a unit's top 0.5% is at most 8,192 values, and those values grow with N (4
    bytes each); beyond that they are a sample of fixed size. At 2,000 scenes conv1 is
    past it, conv2 reaches it at 6,400 and conv3-4 at 25,600 scenes, so N = 2,000 to
    8,000 still holds some growth (about 3 MB of values).

    .venv/bin/python benchmarks/bench_dissect.py [--n 2000] [--rounds 5] [--mem-n 2000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from peakmem import peak_mib, report
from torch.utils.data import Dataset

import neuronscope as ns
from neuronscope.core.data import batch_input, loader, move
from neuronscope.core.model import model_device


class DrawnConcepts(Dataset):
    """shapes scenes with their concept masks, drawn on every access and never stored."""

    def __init__(self, n: int) -> None:
        from neuronscope.data.shapes import Shapes

        self.shapes = Shapes("test", n=n, masks=True)
        self.concepts = self.shapes.concepts

    def __len__(self) -> int:
        return len(self.shapes)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        img, scene, visible = self.shapes._render(i)
        return {"image": torch.from_numpy(img).float().div_(255.0),
                "masks": torch.from_numpy(self.shapes._concept_masks(scene, visible))}


def bare_pass(model: torch.nn.Module, data: Dataset, batch_size: int) -> None:
    with torch.no_grad():
        for batch in loader(data, batch_size):
            model(move(batch_input(batch), model_device(model)))


def speed(n: int, rounds: int, batch_size: int) -> None:
    model = ns.zoo.load("shapes-cnn")
    data = ns.datasets.load("shapes", split="test", n=n, masks=True)
    bare_pass(model, data, batch_size)  # every image drawn once, outside the timings
    convs = [i.name for i in ns.layers(model) if i.kind == "conv"]
    units = sum(i.n_units for i in ns.layers(model) if i.kind == "conv")
    bare, dissected = [], []
    for _ in range(rounds):
        start = time.perf_counter()
        bare_pass(model, data, batch_size)
        bare.append(time.perf_counter() - start)
        start = time.perf_counter()
        ns.dissect(model, data, convs, batch_size=batch_size, progress=False)
        dissected.append(time.perf_counter() - start)
    b, d = statistics.median(bare), statistics.median(dissected)
    print(f"(a) {n:,} scenes, {len(data.concepts)} concepts, {len(convs)} conv layers, {units} "
          f"units, batch {batch_size}, {torch.get_num_threads()} threads, {rounds} rounds "
          "(median)")
    print(f"    bare forward pass {b:.2f} s, dissection {d:.2f} s: ratio {d / (2 * b):.3f} "
          f"against two passes (goal <= 1.5), {d / b:.3f} against one")
    print(json.dumps({"bare_s": b, "dissect_s": d, "ratio_two_passes": d / (2 * b)}))


def peak_child(n: int, batch_size: int) -> float:
    return peak_mib(
        "import bench_dissect as b, neuronscope as ns;"
        "model = ns.zoo.load('shapes-cnn');"
        "convs = [i.name for i in ns.layers(model) if i.kind == 'conv'];"
        f"ns.dissect(model, b.DrawnConcepts({n}), convs, batch_size={batch_size},"
        " progress=False)")


def memory(n: int, batch_size: int) -> None:
    report(f"every conv layer, batch {batch_size}", n, peak_child(n, batch_size),
           peak_child(4 * n, batch_size))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--mem-n", type=int, default=2_000)
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    speed(args.n, args.rounds, args.batch)
    if not args.skip_memory:
        memory(args.mem_n, args.batch)


if __name__ == "__main__":
    main()
