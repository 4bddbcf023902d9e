"""Fooling images (Nguyen, Yosinski & Clune 2015) of digits-cnn and efficientnet-lite0.

For every class of digits-cnn, one image by gradient ascent (Adam from uniform noise)
and one by evolution through the model's outputs only (no gradients: by default the
library's evolution strategy, antithetic Gaussian pairs around one code of an 8x8 pixel
genome, ranked scores and an Adam step; ``--search genetic`` for XDream's genetic
algorithm); per class the softmax confidence reached and the model calls used. Each
image is then saved as an 8-bit PNG, read back and scored again (the confidence a viewer
of the PNG would get). For context, the target's confidence on uniform noise (mean and
max over 256 noise images). Goal (issue #13): >= 99% by gradient and >= 90% by
evolution for every class within the stated budgets. Then the same by gradient for 10
classes of efficientnet-lite0 (one batch; ~1 minute on CPU). With
``--imagenet-evolution BUDGET``, those 10 classes also by evolution, the same search
over a 3x16x16 pixel grid upsampled to 224x224 (class 100 reached 99% in ~10,000
queries, ~6 minutes on a 2-core CPU; on the GPU when there is one).
Writes ``fooling-digits.png``, ``fooling-imagenet-*.png`` and ``fooling.json``.

    .venv/bin/python experiments/fooling.py [--out DIR] [--no-imagenet]
        [--search es|genetic] [--imagenet-evolution BUDGET [--population N]]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import neuronscope as ns
from neuronscope.methods.fooling import fooling_images
from neuronscope.render.grid import image_grid, save_png

BUDGET = {"gradient": 500, "evolution": 20000}  # model calls per image
GOAL = {"gradient": 0.99, "evolution": 0.90}
IMAGENET = list(range(0, 1000, 100))  # tench, ..., 10 classes spread over ImageNet


def as_png(images: torch.Tensor) -> torch.Tensor:
    """What an 8-bit PNG of display-space images holds when read back."""
    return (images.clamp(0, 1) * 255).round() / 255


def confidence(model: torch.nn.Module, images: torch.Tensor, classes: list[int]) -> torch.Tensor:
    spec = ns.input_spec(model)
    device = next(model.parameters()).device
    with torch.no_grad():
        probs = model(spec.to_model(images.to(device))).softmax(1).cpu()
    return probs[torch.arange(len(classes)), torch.tensor(classes)]


def noise_baseline(model: torch.nn.Module, n: int = 256) -> torch.Tensor:
    """[n, classes] softmax of uniform noise images (seeded)."""
    spec = ns.input_spec(model)
    x = torch.rand((n, *spec.shape), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return model(spec.to_model(x)).softmax(1)


def run_digits(out: Path, search: str = "es") -> dict:
    model = ns.zoo.load("digits-cnn")
    classes = list(range(10))
    noise = noise_baseline(model)
    results, rows = {}, []
    for method in ("gradient", "evolution"):
        start = time.perf_counter()
        fool = fooling_images(model, classes, method=method, budget=BUDGET[method],
                              target_confidence=0.99, seed=0, search=search)
        took = time.perf_counter() - start
        png = confidence(model, as_png(fool.images), classes)
        results[method] = {
            "budget": BUDGET[method], "goal": GOAL[method], "seconds": round(took, 2),
            "search": search if method == "evolution" else None,
            "confidence": fool.confidence.tolist(), "png_confidence": png.tolist(),
            "queries": fool.queries.tolist(),
            "passed": bool((png >= GOAL[method]).all() and (fool.confidence >= GOAL[method]).all()),
        }
        rows.append(fool)
        how = f"evolution, search {search}" if method == "evolution" else method
        print(f"\ndigits-cnn, {how} (budget {BUDGET[method]} calls per image, "
              f"{took:.1f} s): class, confidence, after 8-bit PNG, queries, noise mean/max")
        for i, c in enumerate(classes):
            print(f"  {c}  {fool.confidence[i]:.4f}  {png[i]:.4f}  {int(fool.queries[i]):6d}"
                  f"   {noise[:, c].mean():.3f}/{noise[:, c].max():.3f}")
    results["noise_mean"] = noise.mean(0).tolist()
    results["noise_max"] = noise.max(0).values.tolist()
    images = torch.cat([f.images for f in rows])
    labels = [f"{m[:4]} {lab}" for m, f in zip(("gradient", "evolution"), rows, strict=True)
              for lab in f.labels]
    save_png(image_grid(images, nrow=10, scale=8, normalize=None, labels=labels),
             out / "fooling-digits.png")
    return results


def run_imagenet(out: Path, method: str = "gradient", budget: int = 200,
                 population: int = 20, search: str = "es") -> dict:
    model = ns.zoo.load("efficientnet-lite0", device="cuda" if torch.cuda.is_available()
                        else None)
    start = time.perf_counter()
    fool = fooling_images(model, IMAGENET, method=method, budget=budget,
                          target_confidence=0.99, seed=0, population=population,
                          search=search)
    took = time.perf_counter() - start
    png = confidence(model, as_png(fool.images), IMAGENET)
    how = f"evolution, search {search}, population {population}" if method == "evolution" \
        else method
    print(f"\nefficientnet-lite0, {how} (budget {budget}, {took:.1f} s): "
          "class, confidence, after 8-bit PNG, queries")
    for i, c in enumerate(IMAGENET):
        print(f"  {c:3d} {fool.class_names[c]:<22} {fool.confidence[i]:.4f}  {png[i]:.4f}"
              f"  {int(fool.queries[i])}")
    save_png(image_grid(fool.images, nrow=5, normalize=None, labels=fool.labels),
             out / f"fooling-imagenet-{method}.png")
    return {"method": method, "budget": budget, "classes": IMAGENET, "seconds": round(took, 2),
            "search": search if method == "evolution" else None,
            "confidence": fool.confidence.tolist(),
            "png_confidence": png.tolist(), "queries": fool.queries.tolist(),
            "passed": bool((png >= 0.99).all() and (fool.confidence >= 0.99).all())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="neuronscope-out/fooling")
    parser.add_argument("--no-imagenet", action="store_true", help="digits-cnn only")
    parser.add_argument("--imagenet-evolution", type=int, metavar="BUDGET",
                        help="also fool efficientnet-lite0 by evolution, BUDGET model calls "
                        "per class (a GPU job: thousands of calls per class)")
    parser.add_argument("--population", type=int, default=20, help="codes a generation "
                        "scores (the ES: population // 2 antithetic pairs and their centre)")
    parser.add_argument("--search", choices=["es", "genetic"], default="es",
                        help="how evolution searches (default: the evolution strategy)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {"digits-cnn": run_digits(out, args.search)}
    if not args.no_imagenet:
        results["efficientnet-lite0"] = run_imagenet(out)
    if args.imagenet_evolution:
        results["efficientnet-lite0 evolution"] = run_imagenet(
            out, "evolution", args.imagenet_evolution, args.population, args.search)
    (out / "fooling.json").write_text(json.dumps(results, indent=1))
    digits = results["digits-cnn"]
    print(f"\ngoal digits-cnn: gradient >= 99% {'PASS' if digits['gradient']['passed'] else 'FAIL'}"
          f", evolution ({args.search}) >= 90% "
          f"{'PASS' if digits['evolution']['passed'] else 'FAIL'}")
    if "efficientnet-lite0" in results:
        ok = results["efficientnet-lite0"]["passed"]
        print(f"goal efficientnet-lite0: gradient >= 99% {'PASS' if ok else 'FAIL'}")
    if "efficientnet-lite0 evolution" in results:
        ok = results["efficientnet-lite0 evolution"]["passed"]
        print(f"efficientnet-lite0: evolution ({args.search}) >= 99% {'PASS' if ok else 'FAIL'}")
    print(f"-> {out}/fooling-digits.png, fooling.json")


if __name__ == "__main__":
    main()
