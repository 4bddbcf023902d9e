"""The HTML report of a loss change allocation run: a summary (steps, method, fraction of
parameters helping, how closely the allocations add up to the measured loss change),
each layer's total ("helped" or "went backwards"), the figures of `render/lca.py` and
the run's settings. This module alone names the report's files (`INDEX`, `FIGURES`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ..methods.lca import LCAResult
from . import lca as draw
from .html import esc, page, table, write_text

INDEX = "index.html"
HELPING, CUMULATIVE, HEATMAP, FIRST_LAYER = (
    "lca-helping.png", "lca-layers-cumulative.png", "lca-layers-heatmap.png",
    "lca-first-layer.png")
FIGURES = (HELPING, CUMULATIVE, HEATMAP, FIRST_LAYER)
WIDE = "figure.wide figcaption { max-width: 900px; } figure.wide img { image-rendering: auto; }"


def median_relative_error(res: LCAResult) -> float:
    """The median over steps of `LCAResult.relative_error` (steps where the parameters
    changed the loss); NaN when they never did."""
    err = res.relative_error
    err = err[torch.isfinite(err)]
    return float(err.median()) if len(err) else math.nan


def final_loss(res: LCAResult) -> float:
    """The loss after the last step: its record, or (where an older file left it NaN) the
    first loss plus every measured change, inside steps and between them."""
    last = float(res.loss[-1])
    return last if math.isfinite(last) else float(res.loss[0] + res.loss_change.sum()
                                                  + res.outside.sum())


def verdict(total: float) -> str:
    """What a layer's (or parameter's) total allocation says.

    Example:
        >>> verdict(-0.2), verdict(0.01), verdict(0.0)
        ('helped', 'went backwards', 'no effect')
    """
    return "helped" if total < 0 else "went backwards" if total > 0 else "no effect"


def summary_rows(res: LCAResult) -> list[list[Any]]:
    """(what, value) rows of the run's summary.

    Example:
        >>> from neuronscope.render.lca import _example
        >>> dict(summary_rows(_example()))["steps"]
        40
    """
    measured, total = float(res.loss_change.sum()), float(res.total.sum())
    buffers, err = float(res.buffer_change.sum()), float(res.error.sum())
    rows: list[list[Any]] = [
        ["steps", res.n_steps], ["method", res.method],
        ["loss (evaluation set), first / last", f"{float(res.loss[0]):.4f} / "
                                                f"{final_loss(res):.4f}"],
        ["mean fraction of parameters helping", f"{float(res.helping.mean()):.3f}"],
        ["mean fraction hurting", f"{float(res.hurting.mean()):.3f}"],
        ["mean fraction with allocation exactly 0 (did not move, or no gradient on the "
         "evaluation set)", f"{float(res.unchanged.mean()):.3f}"],
        ["of the parameters with a nonzero allocation, mean fraction helping",
         f"{float(res.helping_share.nanmean()):.3f}"],
        ["median relative allocation error", f"{median_relative_error(res):.2e}"],
        ["steps split to meet the error threshold", int((res.splits > 0).sum())],
        ["measured loss change (sum)", f"{measured:+.5f}"],
        ["total allocation, all parameters (sum)", f"{total:+.5f}"],
        ["not allocated: error (sum)", f"{err:+.2e}"]]
    if buffers:
        rows.append(["not allocated: buffers, e.g. batch-norm statistics (sum)", f"{buffers:+.5f}"])
    if float(res.outside.abs().sum()):
        rows.append(["parameter changes outside the optimizer step (sum)",
                     f"{float(res.outside.sum()):+.5f}"])
    return rows


def layer_rows(res: LCAResult) -> list[list[Any]]:
    """One row per layer: parameters, total allocation, its share of the measured loss
    change, mean fraction helping, and the verdict.

    Example:
        >>> from neuronscope.render.lca import _example
        >>> [r[0] for r in layer_rows(_example())], layer_rows(_example())[0][-1]
        (['fc1', 'fc2'], 'helped')
    """
    measured = float(res.loss_change.sum())
    rows = []
    for layer, total in res.layer_totals().items():
        share = f"{100 * total / measured:.1f}%" if measured else "-"
        rows.append([layer, f"{res.layer_sizes.get(layer, 0):,}", f"{total:+.5f}", share,
                     f"{float(res.layer_helping[layer].mean()):.3f}", verdict(total)])
    buffers = float(res.buffer_change.sum())
    if buffers:  # batch-norm statistics: part of the measured change, no parameter's
        rows.append(["(buffers: batch-norm statistics)", "-", f"{buffers:+.5f}",
                     f"{100 * buffers / measured:.1f}%" if measured else "-", "-",
                     "not allocated"])
    return rows


def settings_rows(settings: dict[str, Any], prefix: str = "") -> list[list[Any]]:
    """The settings flattened to (name, value) rows (``recipe.lr``).

    Example:
        >>> settings_rows({"method": "simpson", "recipe": {"lr": 0.1}})
        [['method', 'simpson'], ['recipe.lr', 0.1]]
    """
    rows: list[list[Any]] = []
    for key, value in settings.items():
        if isinstance(value, dict):
            rows += settings_rows(value, f"{prefix}{key}.")
        else:
            rows.append([f"{prefix}{key}", value])
    return rows


def run_line(res: LCAResult) -> str:
    """The run in a sentence, from its settings (recipe fields where there are some).

    Example:
        >>> from neuronscope.render.lca import _example
        >>> res = _example()
        >>> res.settings = {"eval_batches": 3, "recipe": {"epochs": 2, "optimizer": "sgd",
        ...     "lr": 0.1, "momentum": 0.9, "batch_size": 32, "schedule": "cosine"}}
        >>> for part in run_line(res).split("; "):
        ...     print(part)
        2 epoch(s) of sgd (lr 0.1, momentum 0.9, batch 32, cosine schedule)
        evaluation set: 3 batch(es)
    """
    r, s = res.settings.get("recipe", {}), res.settings
    parts = [f"{r['epochs']} epoch(s) of {r.get('optimizer')} (lr {r.get('lr')}"
             + (f", momentum {r.get('momentum')}" if r.get("optimizer") == "sgd" else "")
             + f", batch {r.get('batch_size')}, {r.get('schedule')} schedule)"] if r else []
    n, b = s.get("eval_examples"), s.get("eval_batches", "?")
    parts.append(f"evaluation set: {n:,} examples in {b} batches" if n else
                 f"evaluation set: {b} batch(es)")
    return "; ".join(parts)


def _figure(src: str, caption: str) -> str:
    return (f'<figure class="wide"><img src="{esc(src)}" alt="{esc(caption)}">'
            f"<figcaption>{esc(caption)}</figcaption></figure>")


def figures(res: LCAResult, folder: Path, input_shape: Sequence[int] | None) -> list[str]:
    """Draw the figures into `folder`; their HTML (a caption says why one is missing)."""
    out = [
        _figure(draw.helping_plot(res, folder / HELPING).name,
                "Fraction of parameters whose allocation helped (negative: lowered the "
                "loss) or hurt at each step; the thick lines are rolling means, the dashed "
                "line 0.5. Right: each layer's fraction helping."),
        _figure(draw.cumulative_plot(res, folder / CUMULATIVE).name,
                "Each layer's allocation summed over the steps so far: a line going down "
                "helped; a dashed line ends above 0 (the layer went backwards). Black "
                "dashed: the measured loss change; the sum of all layers, plus the "
                "buffers' own effect where the model has batch-norm statistics (gray "
                "dotted, not allocated), should lie on it (median relative error "
                f"{median_relative_error(res):.1e})."),
        _figure(draw.layer_heatmap(res, folder / HEATMAP).name,
                "Per-layer allocation at every step (blue helped, red hurt; colours clipped "
                "at the 99th percentile of |LCA|): a column of one colour is a burst "
                "shared by the layers. Below: the measured loss change per step.")]
    try:
        name, tiles, what = draw.first_layer_tiles(res, input_shape)
        path = draw.first_layer_lca(res, folder / FIRST_LAYER, input_shape)
        still = int((tiles.flatten(1).abs().amax(1) == 0).sum())
        out.append(_figure(path.name, f"{name}: cumulative allocation of every weight, "
                           f"{what}, one tile per unit in unit order. Blue: the weight's moves "
                           "lowered the loss (helped); red: raised it (hurt); white: no net "
                           f"effect; gray: gaps between tiles. {still} of {len(tiles)} tiles "
                           "are exactly 0: no gradient ever reached those weights on the "
                           "evaluation set (a unit never active there)."))
    except draw.CannotDraw as why:
        (folder / FIRST_LAYER).unlink(missing_ok=True)  # a stale picture of an earlier run
        out.append(f'<p class="muted">First layer as images: cannot be drawn: {esc(why)}.</p>')
    return out


def write_report(res: LCAResult, folder: str | Path,
                 input_shape: Sequence[int] | None = None, title: str | None = None) -> Path:
    """Write ``folder/index.html`` and its PNG figures; `input_shape` (C, H, W) lays a
    first linear layer's weights out as images. Returns the page's path.

    Example:
        >>> import tempfile
        >>> from neuronscope.render.lca import _example
        >>> path = write_report(_example(), tempfile.mkdtemp(), input_shape=(1, 4, 4))
        >>> path.name, sorted(p.name for p in path.parent.glob("*.png")) == sorted(FIGURES)
        ('index.html', True)
    """
    if not res.n_steps:
        raise draw.CannotDraw("the result holds no training step: nothing to report")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model = res.settings.get("model")
    title = title or "Loss change allocation" + (f": {model}" if model else "")
    went_back = [r[0] for r in layer_rows(res) if r[-1] == "went backwards"]
    body = [f"<style>{WIDE}</style><h1>{esc(title)}</h1>",
            f"<p>Run: {esc(run_line(res))}.</p>",
            '<p class="muted">Loss change allocation (Lan, Liu, Zhou &amp; Yosinski 2019) '
            "splits each training step's change of the loss on a fixed evaluation set among "
            "the parameters (a path integral of gradient times step). Negative allocation "
            "helped (lowered the loss), positive hurt. A layer is the module that owns the "
            "parameters.</p>",
            table(summary_rows(res), ["", "value"], numeric=[1]),
            "<h2>Layers</h2>",
            f'<p class="muted">Went backwards (total above 0): '
            f"{esc(', '.join(went_back)) if went_back else 'none'}.</p>",
            table(layer_rows(res), ["layer", "parameters", "total LCA",
                                    "share of the loss change", "mean fraction helping",
                                    "verdict"], numeric=[1, 2, 3, 4]),
            "<h2>Figures</h2>", *figures(res, folder, input_shape),
            "<h2>Settings</h2>", table(settings_rows(res.settings), ["setting", "value"])]
    return write_text(folder / INDEX, page(title, "\n".join(body)))
