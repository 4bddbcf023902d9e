"""Cost of mining dataset examples, measured side by side in one run.

(a) ``top_examples`` over every unit of every conv layer of shapes-cnn on 10,000
    shapes images, divided by a bare forward pass over the same batches (goal <= 1.15).
    The two are interleaved over several rounds and the median of each is taken.
(c) The content fingerprint (every item hashed while it is read): ``top_examples`` as
    in (a) divided by the same run with the hashing switched off (goal < 1.02).
(d) ``top_examples`` over every block output of efficientnet-lite0 (stem, block0 ...
    block15, head) at 224 px on the real photographs (the bundled photos and the LFW
    faces and non-faces), divided by a bare forward pass (goal <= 1.15).
(b) Peak memory (resident set, in a fresh process each) of mining N and 4N images
    drawn on the fly, so the dataset itself holds nothing (goal: flat).

    .venv/bin/python benchmarks/bench_examples.py [--n 10000] [--rounds 3] [--mem-n 2500]
        [--only shapes|real]
"""

from __future__ import annotations

import argparse
import statistics
import time
from unittest import mock

import torch
from peakmem import peak_mib, report
from torch.utils.data import Dataset

import neuronscope as ns
from neuronscope.core.data import batch_input
from neuronscope.core.fingerprint import ContentHash
from neuronscope.methods.examples.mine import batches


class Drawn(Dataset):
    """shapes images drawn on every access and never stored."""

    def __init__(self, n: int) -> None:
        from neuronscope.data.shapes import Shapes

        self.shapes = Shapes("train", n=n)

    def __len__(self) -> int:
        return len(self.shapes)

    def __getitem__(self, i: int) -> torch.Tensor:
        img, _, _ = self.shapes._render(i)
        return torch.from_numpy(img).float().div_(255.0)


def bare_pass(model: torch.nn.Module, data: Dataset, batch_size: int) -> None:
    ids = list(range((len(data) + batch_size - 1) // batch_size))
    with torch.no_grad():
        for _, batch in batches(data, ids, batch_size, 0):
            model(batch_input(batch))


def speed(n: int, rounds: int, batch_size: int) -> None:
    model = ns.zoo.load("shapes-cnn")
    data = ns.datasets.load("shapes", split="train", n=n)
    data.tensors()  # draw every image once, outside the timings
    convs = [i.name for i in ns.layers(model) if i.kind == "conv"]
    units = sum(i.n_units for i in ns.layers(model) if i.kind == "conv")
    bare, mined, unhashed = [], [], []
    real_add = ContentHash.add

    def mine() -> float:
        start = time.perf_counter()
        ns.top_examples(model, data, layers=convs, k=9, batch_size=batch_size, progress=False)
        return time.perf_counter() - start

    for _ in range(rounds):
        start = time.perf_counter()
        bare_pass(model, data, batch_size)
        bare.append(time.perf_counter() - start)
        mined.append(mine())
        with mock.patch.object(ContentHash, "add", lambda self, indices, batch: None):
            unhashed.append(mine())
    b, m, u = (statistics.median(t) for t in (bare, mined, unhashed))
    print(f"(a) {n:,} images, {len(convs)} conv layers, {units} units, batch {batch_size}, "
          f"{torch.get_num_threads()} threads, {rounds} rounds (median)")
    print(f"    bare forward {b:.2f} s, top_examples {m:.2f} s: ratio {m / b:.3f} (goal <= 1.15)")
    print(f"(c) top_examples without hashing the data {u:.2f} s: the content fingerprint "
          f"costs ratio {m / u:.3f} (goal < 1.02)")
    spent = [0.0]

    def timed(self: ContentHash, indices: torch.Tensor, batch: object) -> None:
        start = time.perf_counter()
        real_add(self, indices, batch)
        spent[0] += time.perf_counter() - start

    with mock.patch.object(ContentHash, "add", timed):
        whole = mine()
    print(f"    hashing time in one more run: {spent[0]:.3f} s of {whole:.2f} s "
          f"({100 * spent[0] / whole:.1f}%)")


def speed_real(rounds: int, batch_size: int) -> None:
    model = ns.zoo.load("efficientnet-lite0")
    data = ns.datasets.load("photos", model=model)  # 224 px, ImageNet normalization
    blocks = [i.name for i in ns.layers(model) if i.name == "stem" or i.name == "head"
              or (i.name.startswith("block") and "." not in i.name)]
    bare, mined = [], []
    for _ in range(rounds):
        start = time.perf_counter()
        bare_pass(model, data, batch_size)
        bare.append(time.perf_counter() - start)
        start = time.perf_counter()
        ns.top_examples(model, data, layers=blocks, k=9, batch_size=batch_size, progress=False)
        mined.append(time.perf_counter() - start)
    b, m = statistics.median(bare), statistics.median(mined)
    print(f"(d) efficientnet-lite0, {len(data)} real photographs at 224 px, {len(blocks)} block "
          f"outputs, batch {batch_size}, {rounds} rounds (median)")
    print(f"    bare forward {b:.2f} s, top_examples {m:.2f} s: ratio {m / b:.3f} (goal <= 1.15)")


def peak_child(n: int, batch_size: int) -> float:
    return peak_mib(
        "import bench_examples as b, neuronscope as ns;"
        "model = ns.zoo.load('shapes-cnn');"
        f"ns.top_examples(model, b.Drawn({n}), layers=None, batch_size={batch_size},"
        " progress=False)")


def memory(n: int, batch_size: int) -> None:
    report(f"every conv and linear layer, batch {batch_size}", n,
           peak_child(n, batch_size), peak_child(4 * n, batch_size))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--mem-n", type=int, default=2_500)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--only", choices=["shapes", "real"], default=None)
    args = parser.parse_args()
    if args.only != "real":
        speed(args.n, args.rounds, args.batch)
    if args.only != "shapes":
        speed_real(args.rounds, 32)
    if not args.skip_memory:
        memory(args.mem_n, args.batch)


if __name__ == "__main__":
    main()
