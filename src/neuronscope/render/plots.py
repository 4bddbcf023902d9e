"""Plots of lesion studies (matplotlib, drawn off-screen to PNG): cumulative ablation
curves with their spread, importance per unit, selectivity against importance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..core.files import atomic_write


def _figure(rows: int = 1, cols: int = 1, size: tuple[float, float] = (5.0, 3.6)) -> Any:
    from matplotlib.figure import Figure  # a bare Figure draws off-screen; no pyplot state

    fig = Figure(figsize=(size[0] * cols, size[1] * rows), dpi=100)
    return fig, fig.subplots(rows, cols, squeeze=False)


def _save(fig: Any, path: str | Path) -> Path:
    fig.tight_layout()
    return atomic_write(path, lambda f: fig.savefig(f, format="png"))


def ablation_curves(study: Any, path: str | Path) -> Path:
    """Cumulative ablation curves (random order: mean and min-max band over repeats; by
    importance; by selectivity) beside the metric under growing noise.

    Example:
        >>> import tempfile, torch
        >>> from neuronscope.methods.ablation import AblationStudy
        >>> f = torch.linspace(0, 1, 3)
        >>> s = AblationStudy("fc1", "accuracy", 0.9, torch.zeros(2), torch.zeros(2), f,
        ...                   {"random": torch.rand(2, 3)}, torch.tensor([0.0, 1.0]),
        ...                   torch.tensor([0.9, 0.5]))
        >>> ablation_curves(s, Path(tempfile.mkdtemp()) / "c.png").suffix
        '.png'
    """
    fig, ax = _figure(1, 2)
    left, right = ax[0][0], ax[0][1]
    x = study.fractions.numpy()
    rnd = study.curves["random"]
    left.fill_between(x, rnd.min(0).values.numpy(), rnd.max(0).values.numpy(), alpha=0.25,
                      color="tab:gray", label=f"random order (min-max of {len(rnd)})")
    left.plot(x, rnd.mean(0).numpy(), color="black", label="random order, mean")
    if "importance" in study.curves:
        left.plot(x, study.curves["importance"].numpy(), color="tab:red",
                  label="most important first")
    if "selectivity" in study.curves:
        left.plot(x, study.curves["selectivity"].numpy(), color="tab:blue",
                  label="most selective first")
    left.set_xlabel(f"fraction of {study.layer} silenced")
    left.set_ylabel(study.metric)
    left.set_title("cumulative ablation")
    left.legend(fontsize=8)
    right.plot(study.noise_scales.numpy(), study.noise.numpy(), marker="o", color="tab:green")
    right.set_xlabel("noise (x each unit's std)")
    right.set_ylabel(study.metric)
    right.set_title("random-direction perturbation")
    return _save(fig, path)


def importance_bars(study: Any, path: str | Path) -> Path:
    """Each unit's importance, sorted, as bars labelled with the unit number."""
    order = torch.argsort(study.importance, descending=True, stable=True)
    n = len(order)
    fig, ax = _figure(1, 1, (max(5.0, min(20.0, 0.12 * n)), 3.6))
    a = ax[0][0]
    a.bar(range(n), study.importance[order].numpy(), color="tab:red")
    if n <= 64:
        a.set_xticks(range(n), [str(int(u)) for u in order], rotation=90, fontsize=7)
    a.set_xlabel(f"unit of {study.layer} (most important first)")
    a.set_ylabel(f"{study.metric} lost when silenced alone")
    return _save(fig, path)


def selectivity_scatter(selectivity: torch.Tensor, importance: torch.Tensor, layer: str,
                        path: str | Path, rho: float | None = None) -> Path:
    """Class selectivity against importance, one dot per unit."""
    fig, ax = _figure(1, 1, (4.5, 4.0))
    a = ax[0][0]
    a.scatter(selectivity.numpy(), importance.numpy(), s=12, alpha=0.7)
    a.set_xlabel("class selectivity index")
    a.set_ylabel("importance")
    title = f"{layer}: selectivity vs importance"
    a.set_title(title + (f" (Spearman {rho:.2f})" if rho is not None else ""), fontsize=10)
    return _save(fig, path)
