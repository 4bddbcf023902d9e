"""Pictures of loss change allocation (Lan et al. 2019), drawn off-screen to PNG: the
fraction of parameters helping per step, each layer's cumulative allocation beside the
measured loss change, a layer-by-step heatmap, and the first layer's per-weight
cumulative allocation as images. Negative allocation helped (lowered the loss): blue;
positive hurt: red, on one diverging scale centred at 0.

The run's plots over the steps are here; the first layer's images are drawn in
`lca_weights.py`, the shared colour scale, `CannotDraw` and saving in `lca_common.py`
(all imported here, so ``render.lca`` draws every figure). The examples draw
`_example()`, a small `LCAResult` built by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..methods.lca import LCAResult
from .lca_common import (
    CMAP,
    CannotDraw,
    _example,  # noqa: F401 (the examples here and in lca_report)
    _limit,
    _np,
    _save_tight,
)
from .lca_weights import first_layer_lca, first_layer_tiles, first_weight, mosaic
from .plots import _figure, _save


def rolling_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average (shorter windows at the ends).

    Example:
        >>> rolling_mean(np.array([0.0, 1.0, 2.0, 3.0]), 3).tolist()
        [0.5, 1.0, 2.0, 2.5]
    """
    if window <= 1 or len(values) == 0:
        return values.astype(float)
    kernel = np.ones(window)
    return np.convolve(values, kernel, "same") / np.convolve(np.ones(len(values)), kernel, "same")


def _window(n: int) -> int:
    return max(1, n // 25) | 1  # odd, about 4% of the run


def _colours(n: int) -> list[Any]:
    from matplotlib import colormaps

    return [f"C{i}" for i in range(n)] if n <= 10 else list(colormaps["viridis"](
        np.linspace(0, 0.95, n)))


def helping_plot(res: LCAResult, path: str | Path) -> Path:
    """Left: the fraction of all parameters helping (and hurting) per step, raw and as a
    rolling mean, with 0.5 marked; right: each layer's fraction helping (rolling mean).

    Example:
        >>> import tempfile
        >>> helping_plot(_example(), Path(tempfile.mkdtemp()) / "h.png").suffix
        '.png'
    """
    fig, ax = _figure(1, 2, (5.2, 3.6))
    left, right = ax[0][0], ax[0][1]
    x, w = _np(res.steps), _window(res.n_steps)
    for values, colour, what in ((res.helping, "tab:blue", "helping"),
                                 (res.hurting, "tab:red", "hurting")):
        v = _np(values)
        left.plot(x, v, color=colour, lw=0.6, alpha=0.35)
        left.plot(x, rolling_mean(v, w), color=colour, lw=2, label=f"{what} (mean {v.mean():.3f})")
    unchanged = _np(res.unchanged)
    if unchanged.max(initial=0.0) > 0.005:
        left.plot(x, rolling_mean(unchanged, w), color="tab:gray", lw=1.2, label="allocation 0")
    for a in (left, right):
        a.axhline(0.5, color="black", ls="--", lw=0.8)
        a.set_ylim(0, 1)
        a.set_xlabel("training step")
    left.set_ylabel("fraction of parameters")
    left.set_title("all parameters" + (f" (thick: rolling mean of {w} steps)" if w > 1
                                       else ""), fontsize=9)
    left.legend(fontsize=8, loc="best")
    for (layer, values), colour in zip(res.layer_helping.items(), _colours(len(res.layers)),
                                       strict=True):
        right.plot(x, rolling_mean(_np(values), w), color=colour, lw=1.4, label=layer)
    right.set_ylabel("fraction helping")
    right.set_title("per layer, helping (rolling mean)", fontsize=9)
    right.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return _save(fig, path)


def cumulative_plot(res: LCAResult, path: str | Path) -> Path:
    """Each layer's allocation summed from the first step (below 0: the layer has lowered
    the loss so far), beside the measured loss change and the sum of all allocations.

    Example:
        >>> import tempfile
        >>> cumulative_plot(_example(), Path(tempfile.mkdtemp()) / "c.png").suffix
        '.png'
    """
    fig, ax = _figure(1, 1, (8.0, 4.2))
    a, x = ax[0][0], _np(res.steps)
    for (layer, values), colour in zip(res.by_layer.items(), _colours(len(res.layers)),
                                       strict=True):
        c = np.cumsum(_np(values))
        end = c[-1] if len(c) else 0.0
        verdict = "helped" if end < 0 else "went backwards" if end > 0 else "no change"
        a.plot(x, c, color=colour, lw=1.6, ls="-" if end <= 0 else "--",
               label=f"{layer}: {end:+.4g} ({verdict})")
    a.plot(x, np.cumsum(_np(res.loss_change)), color="black", lw=1.2, ls=(0, (4, 2)),
           label=f"measured loss change: {float(res.loss_change.sum()):+.4g}")
    a.plot(x, np.cumsum(_np(res.total)), color="black", lw=0.7, alpha=0.6,
           label=f"all parameters (sum): {float(res.total.sum()):+.4g}")
    if float(res.buffer_change.abs().sum()) > 0:
        a.plot(x, np.cumsum(_np(res.buffer_change)), color="tab:gray", ls=":",
               label=f"buffers (not allocated): {float(res.buffer_change.sum()):+.4g}")
    a.axhline(0, color="gray", lw=0.6)
    a.set_xlabel("training step")
    a.set_ylabel("cumulative LCA (loss)")
    a.set_title("cumulative loss change allocation per layer (negative: helped)", fontsize=10)
    a.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return _save(fig, path)


def layer_heatmap(res: LCAResult, path: str | Path) -> Path:
    """Per-layer allocation at every step (rows: layers in the model's order; blue helped,
    red hurt; limits at the 99th percentile of |LCA|, so bursts shared by several layers
    stand out as columns), above the measured loss change per step.

    Example:
        >>> import tempfile
        >>> layer_heatmap(_example(), Path(tempfile.mkdtemp()) / "m.png").suffix
        '.png'
    """
    values = np.stack([_np(v) for v in res.by_layer.values()]) if res.layers else np.zeros((0, 0))
    if values.size == 0:
        raise CannotDraw("the result holds no step of any layer: nothing to draw")
    lim, n = _limit(values), len(res.layers)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9.0, 1.8 + 0.28 * n + 1.4), dpi=100)
    top, bottom = fig.subplots(2, 1, sharex=True,
                               gridspec_kw={"height_ratios": [max(1.0, 0.28 * n), 1.2]})
    x = _np(res.steps)
    half = 0.5 * (x[1] - x[0]) if len(x) > 1 else 0.5
    im = top.imshow(values, aspect="auto", cmap=CMAP, vmin=-lim, vmax=lim,
                    interpolation="nearest", extent=(x[0] - half, x[-1] + half, n - 0.5, -0.5))
    top.set_yticks(range(n), res.layers, fontsize=8 if n <= 30 else 5)
    top.set_title("loss change allocation per layer and step (blue: helped, red: hurt)",
                  fontsize=10)
    bottom.plot(x, _np(res.loss_change), color="black", lw=0.8)
    bottom.axhline(0, color="gray", lw=0.6)
    bottom.set_ylabel("measured\nloss change", fontsize=8)
    bottom.set_xlabel("training step")
    bar = fig.colorbar(im, ax=[top, bottom], extend="both", fraction=0.04, pad=0.02)
    bar.set_label(f"LCA per step (clipped at ±{lim:.2g})", fontsize=8)
    return _save_tight(fig, path)


__all__ = ["CMAP", "CannotDraw", "cumulative_plot", "first_layer_lca", "first_layer_tiles",
           "first_weight", "helping_plot", "layer_heatmap", "mosaic", "rolling_mean"]
