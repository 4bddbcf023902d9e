"""What the pictures of loss change allocation share (`lca.py`, `lca_weights.py`): the
diverging colour scale (blue: helped, red: hurt, centred at 0, limits at a robust
percentile), `CannotDraw` for a picture a result cannot give, saving a figure that lays
itself out, and `_example()`, the small hand-built `LCAResult` the examples draw.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core.errors import NeuronscopeError
from ..methods.lca import LCAResult

CMAP, GAP = "RdBu_r", "0.8"  # blue: helped (negative), red: hurt; gray between tiles
ROBUST = 99.0  # colour limits: this percentile of |allocation|, so one burst does not wash out


class CannotDraw(NeuronscopeError, ValueError):
    """A picture that this result cannot give; the message says why."""


def _example(steps: int = 40, seed: int = 0) -> LCAResult:
    """A small result built by hand for the examples: `steps` steps of layers fc1 (a
    [6, 16] weight: 6 units on 1x4x4 inputs; it helps) and fc2 (noise around 0)."""
    g = torch.Generator().manual_seed(seed)

    def rand(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    fc1, fc2 = -rand(steps).abs() * 0.1, rand(steps) * 0.01
    total, zeros = fc1 + fc2, torch.zeros(steps, dtype=torch.float64)
    helping = 0.5 + 0.1 * rand(steps).tanh()
    return LCAResult(
        steps=torch.arange(steps), loss=torch.cat([torch.ones(1), 1 + total.cumsum(0)]),
        loss_change=total, total=total.clone(), error=zeros, buffer_change=zeros,
        outside=zeros, splits=torch.zeros(steps, dtype=torch.int64), helping=helping,
        hurting=1 - helping, by_layer={"fc1": fc1, "fc2": fc2},
        layer_helping={"fc1": helping, "fc2": helping},
        layer_hurting={"fc1": 1 - helping, "fc2": 1 - helping},
        cumulative={"fc1.weight": rand(6, 16), "fc1.bias": zeros[:6], "fc2.weight": rand(2, 6)},
        layer_of={"fc1.weight": "fc1", "fc1.bias": "fc1", "fc2.weight": "fc2"},
        layer_sizes={"fc1": 102, "fc2": 12})


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().double().numpy()


def _limit(values: np.ndarray) -> float:
    """A symmetric colour limit: the ROBUST percentile of |values| (never 0)."""
    mags = np.abs(values[np.isfinite(values)])
    lim = float(np.percentile(mags, ROBUST)) if mags.size else 0.0
    return lim if lim > 0 else float(mags.max()) if mags.size and mags.max() > 0 else 1e-12


def _save_tight(fig: Any, path: str | Path) -> Path:
    """Save a figure laid out by its own constrained/colorbar layout (no tight_layout)."""
    from ..core.files import atomic_write

    return atomic_write(path, lambda f: fig.savefig(f, format="png", bbox_inches="tight"))
