"""Feature visualization with a generator prior (Nguyen et al. 2016) against pixel space.

For a seeded sample of units of shapes-cnn's conv3 and conv4, optimize each unit's mean
activation twice with the same steps and seed: with the default settings (Fourier
parameters, decorrelated colours, the standard transforms) and with ``prior=gen``, the
shapes generator (`neuronscope.zoo.generator`, a VAE trained on first use, about 2
minutes on 2 cores, then cached). Reports (a) the activation the prior reaches as a
fraction of the pixel-space one (median over units) and (b) naturalness: the
generator's reconstruction error of both kinds of images and, for scale, of real test
images and of uniform noise (lower is more natural). The prior's images are decodings,
which the generator reconstructs well by construction; ``--judge-seed`` scores
everything with a second generator trained from another seed as well. Acceptance: the
prior reaches a stated fraction of the pixel-space activation while scoring as more
natural. Writes a grid (per layer: a row of pixel-space images over a row with the prior).

    .venv/bin/python experiments/generator_prior.py [--units 8] [--steps 256]
        [--code-penalty 0] [--judge-seed 1] [--out DIR]
"""

from __future__ import annotations

import argparse
import time
import zlib
from pathlib import Path
from typing import Any

import torch

import neuronscope as ns
from neuronscope.render.grid import image_grid, save_png
from neuronscope.zoo.generator import generator

LAYERS = ("conv3", "conv4")


def sample_units(n_units: int, k: int, layer: str) -> list[int]:
    """A seeded sample of `k` of a layer's `n_units` channels (the layer's own seed)."""
    g = torch.Generator().manual_seed(zlib.crc32(layer.encode()))
    return sorted(torch.randperm(n_units, generator=g)[:k].tolist())


def naturalness(gen: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """The generator's reconstruction error [n] of display-space images (lower: more natural)."""
    with torch.no_grad():
        return gen.reconstruction_error(images)


def run(model: torch.nn.Module, gen: torch.nn.Module, targets: list[str],
        args: argparse.Namespace) -> dict[str, Any]:
    """Each kind's visualizations of `targets`: {kind: Visualization}."""
    out = {}
    for kind in ("pixel", "prior"):
        extra = {"prior": gen, "code_penalty": args.code_penalty, "lr": args.lr,
                 "transforms": args.transforms} if kind == "prior" else {}
        out[kind] = ns.visualize(model, targets, steps=args.steps, progress=False, **extra)
    return out


def report_activation(targets: list[str], pixel: torch.Tensor, prior: torch.Tensor,
                      real: torch.Tensor) -> None:
    """Per unit and in summary: the prior's activation as a fraction of pixel space's."""
    for t, a, b, c in zip(targets, pixel.tolist(), prior.tolist(), real.tolist(), strict=True):
        print(f"    {t:<9} pixel {a:6.2f}  prior {b:6.2f}  best test image {c:6.2f}")
    live = pixel > 0  # a unit pixel space cannot turn on gives no fraction
    frac, ref = (prior / pixel)[live], (real / pixel)[live]
    layer_of = [t.split(":")[0] for t, k in zip(targets, live.tolist(), strict=True) if k]
    per_layer = ", ".join(f"{layer} {frac[[x == layer for x in layer_of]].median():.2f}"
                          for layer in LAYERS)
    print(f"(a) activation with the prior / in pixel space: median {frac.median():.2f} "
          f"(quartiles {frac.quantile(0.25):.2f}-{frac.quantile(0.75):.2f}) over {len(frac)} "
          f"units that pixel space turns on ({int((~live).sum())} left out); per layer: "
          f"{per_layer}. The best of the test images reaches a median {ref.median():.2f}; "
          f"the prior beats it for {(prior > real)[live].double().mean():.0%} of units")


def report_naturalness(judges: dict[str, torch.nn.Module], kinds: dict[str, torch.Tensor]
                       ) -> None:
    """Each judge's reconstruction error of each kind of image (median; lower: natural)."""
    for name, judge in judges.items():
        scores = {k: naturalness(judge, v) for k, v in kinds.items()}
        print(f"(b) naturalness by the {name} generator (reconstruction error, median; lower "
              "is more natural): " + "; ".join(f"{k} {v.median():.4f}" for k, v in scores.items()))
        more = (scores["prior"] < scores["pixel space"]).double().mean()
        print(f"    the prior's image scores as more natural than pixel space's for {more:.0%} "
              "of units")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, default=8, help="units per layer")
    parser.add_argument("--steps", type=int, default=256)
    parser.add_argument("--code-penalty", type=float, default=0.0)
    parser.add_argument("--lr", type=float, help="the prior's learning rate (default: preset's)")
    parser.add_argument("--transforms", help="the prior's transforms (default: the preset's)")
    parser.add_argument("--judge-seed", type=int, help="also score with a generator of this seed")
    parser.add_argument("--out", default="neuronscope-out/generator-prior")
    args = parser.parse_args()
    model = ns.zoo.load("shapes-cnn")
    gen = generator("shapes")
    m = gen.zoo_metrics
    print(f"generator: test reconstruction error {m['test_reconstruction_error']:.4f}, trained "
          f"in {m['seconds']:.0f} s on {m['threads']} threads (cached: {m['cached']})")
    judges = {"own": gen}
    if args.judge_seed is not None:
        judges[f"seed-{args.judge_seed}"] = generator("shapes", seed=args.judge_seed)
    start = time.perf_counter()
    test = ns.datasets.load("shapes", split="test")
    best = ns.top_examples(model, test, layers=list(LAYERS), k=1, reduce="mean", progress=False)
    infos = {i.name: i for i in ns.layers(model, torch.zeros(1, *gen.shape))}
    targets, vis = [], []
    for layer in LAYERS:
        units = [f"{layer}:{u}" for u in sample_units(infos[layer].n_units, args.units, layer)]
        targets += units
        vis.append(run(model, gen, units, args))
        print(f"  {layer}: {len(units)} units, {time.perf_counter() - start:.0f} s", flush=True)
    real = torch.cat([best[t.split(":")[0]].values[int(t.split(":")[1]), 0].view(1)
                      for t in targets])
    acts = {k: torch.cat([v[k].activations for v in vis]) for k in ("pixel", "prior")}
    report_activation(targets, acts["pixel"], acts["prior"], real)
    images = {k: torch.cat([v[k].display for v in vis]) for k in ("pixel", "prior")}
    report_naturalness(judges, {
        "test images": test.tensors()[0][:500], "pixel space": images["pixel"],
        "prior": images["prior"],
        "uniform noise": torch.rand(64, *gen.shape, generator=torch.Generator().manual_seed(0))})
    rows = [v[k].display for v in vis for k in ("pixel", "prior")]  # per layer: pixel, prior
    labels = [f"{t} {k} {a:.2f}" for v in vis for k in ("pixel", "prior")
              for t, a in zip(v[k].targets, v[k].activations.tolist(), strict=True)]
    path = Path(args.out) / "pixel-vs-prior.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    save_png(image_grid(torch.cat(rows), nrow=args.units, normalize=None, scale=2,
                        labels=labels), path)
    print(f"grid (per layer: pixel space above, prior below) -> {path}; "
          f"{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
