"""The first layer's per-weight cumulative loss change allocation as images, one tile
per hidden unit (or conv filter): `first_weight` picks the weight, `first_layer_tiles`
lays each unit's weights out as its input image (or a filter's kernel), `mosaic` puts
the tiles in a grid and `first_layer_lca` draws it to PNG. `CannotDraw` says why when
the layer's weights are not an image.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ..methods.lca import LCAResult
from .lca_common import (
    CMAP,
    GAP,
    CannotDraw,
    _example,  # noqa: F401 (the examples)
    _limit,
    _np,
    _save_tight,
)
from .plots import _figure

MAX_TILES = 400  # first-layer tiles drawn at most


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
