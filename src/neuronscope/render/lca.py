"""Pictures of loss change allocation (Lan et al. 2019), drawn off-screen to PNG: the
fraction of parameters helping per step, each layer's cumulative allocation beside the
measured loss change, a layer-by-step heatmap, and the first layer's per-weight
cumulative allocation as images. Negative allocation helped (lowered the loss): blue;
positive hurt: red, on one diverging scale centred at 0.

The examples draw `_example()`, a small `LCAResult` built by hand.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core.errors import NeuronscopeError
from ..methods.lca import LCAResult
from .plots import _figure, _save

CMAP, GAP = "RdBu_r", "0.8"  # blue: helped (negative), red: hurt; gray between tiles
ROBUST = 99.0  # colour limits: this percentile of |allocation|, so one burst does not wash out
MAX_TILES = 400  # first-layer tiles drawn at most


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


def _limit(values: np.ndarray) -> float:
    """A symmetric colour limit: the ROBUST percentile of |values| (never 0)."""
    mags = np.abs(values[np.isfinite(values)])
    lim = float(np.percentile(mags, ROBUST)) if mags.size else 0.0
    return lim if lim > 0 else float(mags.max()) if mags.size and mags.max() > 0 else 1e-12


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


def _save_tight(fig: Any, path: str | Path) -> Path:
    """Save a figure laid out by its own constrained/colorbar layout (no tight_layout)."""
    from ..core.files import atomic_write

    return atomic_write(path, lambda f: fig.savefig(f, format="png", bbox_inches="tight"))


def _image_shape(input_shape: Sequence[int] | None) -> tuple[int, int, int] | None:
    if input_shape is None:
        return None
    s = tuple(int(v) for v in input_shape)
    return (1, *s) if len(s) == 2 else s if len(s) == 3 else None  # type: ignore[return-value]


def first_weight(res: LCAResult) -> str:
    """The weight of the first layer (the first in the model's order that has a 2-d or
    conv weight): ``"fc1.weight"``.

    Example:
        >>> first_weight(_example())
        'fc1.weight'
    """
    for layer in res.layers:
        names = [p for p, owner in res.layer_of.items() if owner == layer
                 and p in res.cumulative and res.cumulative[p].dim() in (2, 3, 4)]
        if names:
            return next((p for p in names if p.endswith("weight")), names[0])
    raise CannotDraw("no layer has a weight matrix or convolution kernel")


def first_layer_tiles(res: LCAResult, input_shape: Sequence[int] | None = None
                      ) -> tuple[str, torch.Tensor, str]:
    """(weight name, tiles [units, h, w], what a tile shows): each unit's (or filter's)
    cumulative allocation laid out as its input. A linear layer needs `input_shape`
    (C, H, W) with C*H*W its in_features; channels are summed. Raises `CannotDraw` with
    the reason otherwise.

    Example:
        >>> name, tiles, what = first_layer_tiles(_example(), (1, 4, 4))
        >>> name, tuple(tiles.shape)
        ('fc1.weight', (6, 4, 4))
    """
    name = first_weight(res)
    w = res.cumulative[name].detach().cpu().double()
    out = w.shape[0]
    if w.dim() in (3, 4):  # conv: [out, in, (kh,) kw]
        k = w if w.dim() == 4 else w.unsqueeze(2)
        note = "" if k.shape[1] == 1 else f", summed over its {k.shape[1]} input channels"
        return name, k.sum(1), (f"each of the {out} filters' kernel{note} "
                                f"({k.shape[2]}x{k.shape[3]})")
    shape, n_in = _image_shape(input_shape), w.shape[1]
    if input_shape is None:
        raise CannotDraw(f"{name} has {n_in} inputs, but no input shape was given, so they "
                         "cannot be laid out as an image")
    if shape is None or math.prod(shape) != n_in:
        raise CannotDraw(f"{name} has {n_in} inputs but the model's input is "
                         f"{'x'.join(map(str, input_shape))} ({math.prod(input_shape)} values):"
                         " it does not see the input image directly")
    c, h, wd = shape
    note = "" if c == 1 else f", summed over the {c} channels"
    return name, w.reshape(out, c, h, wd).sum(1), (f"each of the {out} units' {h}x{wd} input "
                                                   f"weights{note}")


def mosaic(tiles: torch.Tensor, ncols: int | None = None) -> np.ndarray:
    """Tiles [n, h, w] in a grid (`ncols` per row, default about square), one NaN row or
    column between tiles and NaN for empty places.

    Example:
        >>> mosaic(torch.zeros(5, 2, 3)).shape
        (5, 11)
    """
    n, h, w = tiles.shape
    ncols = ncols or math.ceil(math.sqrt(n))
    rows = math.ceil(n / ncols)
    out = np.full((rows * (h + 1) - 1, ncols * (w + 1) - 1), np.nan)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, ncols)
        out[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = _np(tile)
    return out


def first_layer_lca(res: LCAResult, path: str | Path,
                    input_shape: Sequence[int] | None = None) -> Path:
    """The first layer's per-weight cumulative allocation as images, one tile per hidden
    unit (or conv filter), in unit order, on one diverging scale (blue: the weight's
    moves lowered the loss; red: raised it). Raises `CannotDraw` with the reason when the
    layer's weights are not an image (see `first_layer_tiles`).

    Example:
        >>> import tempfile
        >>> first_layer_lca(_example(), Path(tempfile.mkdtemp()) / "w.png", (1, 4, 4)).name
        'w.png'
    """
    from matplotlib import colormaps

    name, tiles, what = first_layer_tiles(res, input_shape)
    shown = tiles[:MAX_TILES]
    n, h, w = shown.shape
    ncols = math.ceil(math.sqrt(n))
    grid = mosaic(shown, ncols)
    lim = _limit(grid)
    inches = min(5.5, 0.4 * grid.shape[1]) / grid.shape[1]  # per pixel of the mosaic
    fig, ax = _figure(1, 1, (1.9 + inches * grid.shape[1], 1.1 + inches * grid.shape[0]))
    a = ax[0][0]
    cmap = colormaps[CMAP].with_extremes(bad=GAP)
    im = a.imshow(grid, cmap=cmap, vmin=-lim, vmax=lim, interpolation="nearest")
    rows = math.ceil(n / ncols)
    a.set_yticks([r * (h + 1) + (h - 1) / 2 for r in range(rows)],
                 [str(r * ncols) for r in range(rows)], fontsize=7)
    a.set_xticks([c * (w + 1) + (w - 1) / 2 for c in range(ncols)],
                 [f"+{c}" for c in range(ncols)], fontsize=7)
    a.tick_params(length=0)
    a.set_ylabel("unit (row start; add the column)", fontsize=8)
    more = f"; first {MAX_TILES} of {len(tiles)}" if len(tiles) > MAX_TILES else ""
    a.set_title(f"{name}: cumulative LCA per weight ({n} tiles{more})", fontsize=10)
    bar = fig.colorbar(im, ax=a, extend="both", fraction=0.046, pad=0.03, shrink=0.8)
    bar.set_label(f"blue: helped, red: hurt (clipped at ±{lim:.2g})", fontsize=8)
    a.set_xlabel(what, fontsize=8)
    return _save_tight(fig, path)
