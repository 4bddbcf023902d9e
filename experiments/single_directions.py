"""Morcos et al. 2018, "On the importance of single directions for generalization".

Two networks of digits-mlp's shape (64-100-50-10) are trained to 100% training
accuracy on scikit-learn's digits: one on the true labels, one on labels shuffled at
random, which it can only memorize. Silencing a growing random fraction of a hidden
layer's units (cumulative ablation, on each network's own training data) hurts the
memorizing network sooner: it relies more on single directions. The experiment also
reports the Spearman correlation between class selectivity and importance, which the
paper found to be absent or slightly negative.

    .venv/bin/python experiments/single_directions.py [--epochs 3000] [--repeats 10]
"""

from __future__ import annotations

import argparse
import time
from collections import OrderedDict

import torch
from torch import nn
from torch.utils.data import TensorDataset

import neuronscope as ns


def mlp(seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(OrderedDict([
        ("flatten", nn.Flatten()), ("fc1", nn.Linear(64, 100)), ("relu1", nn.ReLU()),
        ("fc2", nn.Linear(100, 50)), ("relu2", nn.ReLU()), ("fc3", nn.Linear(50, 10)),
    ]))


def train(x: torch.Tensor, y: torch.Tensor, epochs: int, seed: int, lr: float = 3e-3
          ) -> tuple[nn.Module, float]:
    """Full-batch Adam until `epochs` or 100% training accuracy: (model, train accuracy)."""
    model = mlp(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for epoch in range(epochs):
        opt.zero_grad()
        out = model(x)
        nn.functional.cross_entropy(out, y).backward()
        opt.step()
        if epoch % 50 == 0 and bool((out.argmax(1) == y).all()):
            break
    with torch.no_grad():
        acc = float((model(x).argmax(1) == y).float().mean())
    return model.eval(), acc


def data(n: int | None = None, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Digits training inputs, true labels and shuffled labels (first n items)."""
    x, y = ns.datasets.load("digits", split="train").tensors()
    if n is not None:
        x, y = x[:n], y[:n]
    g = torch.Generator().manual_seed(seed)
    return x, y, y[torch.randperm(len(y), generator=g)]


def compare(n: int | None, epochs: int, repeats: int, layers: list[str], seed: int = 0,
            progress: bool = False) -> dict[str, dict[str, float]]:
    """Train both networks and ablate each layer: areas, accuracies and correlations."""
    x, y_true, y_shuffled = data(n, seed)
    out: dict[str, dict[str, float]] = {}
    for kind, y in (("true labels", y_true), ("shuffled labels", y_shuffled)):
        model, acc = train(x, y, epochs, seed)
        own = TensorDataset(x, y)
        row: dict[str, float] = {"train accuracy": acc}
        for layer in layers:
            sel = ns.class_selectivity(model, own, layer, progress=progress)
            study = ns.ablation_study(model, own, layer, selectivity=sel, repeats=repeats,
                                      seed=seed, progress=progress)
            row[f"{layer} area"] = study.area("random")
            row[f"{layer} rho"] = study.info["selectivity_importance_spearman"]
            row[f"{layer} curve"] = study.curves["random"].mean(0).tolist()  # type: ignore[assignment]
        out[kind] = row
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--n", type=int, default=None, help="training items (default: all)")
    args = parser.parse_args()
    layers = ["relu1", "relu2"]
    start = time.perf_counter()
    res = compare(args.n, args.epochs, args.repeats, layers, progress=True)
    print(f"digits, 64-100-50-10 MLPs, cumulative ablation in random order ({args.repeats} "
          f"orders) on each network's own training data; {time.perf_counter() - start:.0f} s")
    for kind, row in res.items():
        print(f"  {kind}: train accuracy {row['train accuracy']:.3f}")
        for layer in layers:
            curve = ", ".join(f"{v:.2f}" for v in row[f"{layer} curve"])  # type: ignore[union-attr]
            print(f"    {layer}: area under the curve {row[f'{layer} area']:.3f}; Spearman "
                  f"(selectivity, importance) {row[f'{layer} rho']:+.3f}; curve [{curve}]")
    for layer in layers:
        a, b = res["true labels"][f"{layer} area"], res["shuffled labels"][f"{layer} area"]
        print(f"  {layer}: memorizing network's area {b:.3f} vs {a:.3f} -> "
              f"{'degrades faster (as in the paper)' if b < a else 'does NOT degrade faster'}")


if __name__ == "__main__":
    main()
