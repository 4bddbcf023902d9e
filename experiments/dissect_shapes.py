"""Bau, Zhou, Khosla, Oliva & Torralba 2017, "Network Dissection", on built-in models.

shapes-cnn, every conv layer, over the shapes test split's 2,000 scenes and their 20
concept masks (7 shapes, 8 colours, 5 background textures):
- detectors and unique concepts per layer and category (the paper's Figure 4);
- the rotation control: the same dissection of the layer's channels turned by a random
  rotation (three seeds). The paper found fewer detectors after rotation: interpretable
  directions are the units themselves, not any direction of the space;
- the masks shuffled across scenes (chance overlap: should give no detector);
- the causal check: the share of detectors whose label is confirmed (silencing the unit
  takes away the network's evidence for its concept where the concept is, z >= 3), and
  the median share of that evidence one unit carries.
efficientnet-lite0 (pretrained on ImageNet): colour detectors per block on the bundled
photographs, colours named from the pixels (``ns.datasets.PixelColors``).

    .venv/bin/python experiments/dissect_shapes.py [--n 2000] [--seeds 3] [--skip-real]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import neuronscope as ns
from neuronscope.data.shapes import Shapes
from neuronscope.render.dissect import counts


def table(rows: list[list[object]], head: list[str]) -> None:
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in rows:
        print("| " + " | ".join(str(v) for v in row) + " |")


def shapes(n: int, seeds: int) -> None:
    model = ns.zoo.load("shapes-cnn")
    data = Shapes("test", n=n, masks=True)
    convs = [i.name for i in ns.layers(model) if i.kind == "conv"]
    start = time.perf_counter()
    found = ns.dissect(model, data, convs, causal=True, progress=False)
    took = time.perf_counter() - start
    turned = [ns.dissect(model, data, convs, control="rotation", seed=s, progress=False)
              for s in range(seeds)]
    shuffled = ns.dissect(model, data, convs, control="shuffled masks", progress=False)
    print(f"shapes-cnn over {n:,} scenes, {len(data.concepts)} concepts (dissection with the "
          f"causal check: {took:.0f} s)\n")
    rows = []
    for c in counts(found):
        d = found[c["layer"]]
        rot = [len(t[c["layer"]].detectors) for t in turned]
        scored = [u for u in d.detectors if not torch.isnan(d.faithfulness[u])]
        share = (statistics.median(float(d.faithfulness[u]) for u in scored)
                 if scored else float("nan"))
        cats = ", ".join(f"{k} {v}" for k, v in c["by_category"].items() if v) or "-"
        rows.append([c["layer"], c["units"], c["detectors"], f"{c['unique']} ({cats})",
                     f"{statistics.mean(rot):.1f} ({min(rot)}-{max(rot)})",
                     len(shuffled[c["layer"]].detectors),
                     f"{len(d.confirmed)} of {len(scored)} scored",
                     f"{share:.3f}"])
    table(rows, ["layer", "units", "detectors", "unique concepts", "rotation (mean, range)",
                 "shuffled masks", "confirmed causally", "median faithfulness"])
    total, rotated = (sum(len(d.detectors) for d in found.values()),
                      statistics.mean(sum(len(d.detectors) for d in t.values()) for t in turned))
    print(f"\nall layers: {total} detectors; after rotation {rotated:.1f} "
          f"({100 * (1 - rotated / total):.0f}% fewer)")


def real() -> None:
    model = ns.zoo.load("efficientnet-lite0")
    photos = ns.datasets.PixelColors(ns.datasets.load("photos", model=model))
    blocks = [i.name for i in ns.layers(model) if i.name == "stem"
              or (i.name.startswith("block") and "." not in i.name)]
    start = time.perf_counter()
    found = ns.dissect(model, photos, blocks, batch_size=32, progress=False)
    print(f"\nefficientnet-lite0, colour detectors over the {len(photos)} bundled "
          f"photographs ({time.perf_counter() - start:.0f} s)\n")
    rows = []
    for c in counts(found):
        d = found[c["layer"]]
        best = sorted(d.detectors, key=lambda u: -d.ious[u])[:2]
        rows.append([c["layer"], c["units"], c["detectors"], c["unique"],
                     ", ".join(f"{d.concepts[u].split(':')[1]} {d.ious[u]:.2f}" for u in best)])
    table(rows, ["block", "units", "colour detectors", "unique colours", "best"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2_000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--skip-real", action="store_true")
    args = parser.parse_args()
    shapes(args.n, args.seeds)
    if not args.skip_real:
        real()


if __name__ == "__main__":
    main()
