"""Pages of dataset examples: per unit a grid of top and bottom crops (images) or shaded
snippets (text), and an index page with every unit of every mined layer."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from ..core.errors import NeuronscopeError
from ..core.spec import input_spec
from ..methods.examples import LayerExamples, TopExamples
from ..methods.examples.show import field_of, unit_crops, unit_traces
from ..render.examples import example_grid, text_html
from ..render.grid import save_png
from ..render.html import esc, page, write_text

log = logging.getLogger(__name__)


def _vocab(model: nn.Module, data: Any) -> str | None:
    for spec in (input_spec(model), getattr(data, "spec", None)):
        if spec is not None and getattr(spec, "vocab", None):
            return spec.vocab
    return None


def _image_unit(model: nn.Module, data: Any, ex: LayerExamples, u: int, folder: Path,
                rf: Any) -> str:
    cells = []
    for bottom in (False, True) if ex.bottom_indices.shape[1] else (False,):
        crops, values, box = unit_crops(model, data, ex, u, bottom=bottom, rf=rf)
        side = "bottom" if bottom else "top"
        name = f"unit-{u:04d}-{side}.png"
        save_png(example_grid(crops, values, box=box), folder / name)
        caption = "lowest" if bottom else "highest"
        cells.append(f"<figure><img src='{esc(folder.name)}/{name}' alt='{caption} examples "
                     f"of unit {u}'><figcaption>{caption}</figcaption></figure>")
    return " ".join(cells)


def _text_unit(model: nn.Module, data: Any, ex: LayerExamples, u: int, vocab: str) -> str:
    parts = []
    for bottom in (False, True) if ex.bottom_indices.shape[1] else (False,):
        ids, act = unit_traces(model, data, ex, u, bottom=bottom)
        texts = ["".join(vocab[int(t)] for t in row) for row in ids]
        parts.append(f"<h4>{'lowest' if bottom else 'highest'}</h4>"
                     + text_html(texts, act.tolist()))
    return "".join(parts)


def _drawable(data: Any) -> bool:
    """Whether the inputs are images [C, H, W] (other signals get statistics only)."""
    from ..methods.examples.mine import as_dataset, batch_input

    x = batch_input(as_dataset(data)[0])
    return isinstance(x, torch.Tensor) and x.dim() == 3


def write_examples(model: nn.Module, data: Any, res: TopExamples, out: str | Path,
                   units: dict[str, list[int]] | None = None, progress: bool = True
                   ) -> dict[str, Path]:
    """Draw the examples of `res` into `out`: ``out/LAYER/unit-0017-top.png`` (and
    ``-bottom``) for images, shaded snippets for text, and ``out/index.html``.

    `units` limits the units drawn per layer (default: every unit). Returns the
    folder of each layer.

    Example:
        >>> import torch, tempfile, torch.nn as nn, neuronscope as ns
        >>> model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())
        >>> x = torch.rand(10, 1, 8, 8)
        >>> res = ns.top_examples(model, x, k=3, progress=False)
        >>> folders = write_examples(model, x, res, tempfile.mkdtemp(), progress=False)
        >>> sorted(p.name for p in folders["0"].iterdir())[:2]
        ['unit-0000-bottom.png', 'unit-0000-top.png']
    """
    out = Path(out)
    vocab = _vocab(model, data)
    images = vocab is None and _drawable(data)
    folders: dict[str, Path] = {}
    sections = []
    for name in res:
        ex = res[name]
        chosen = units.get(name, list(range(ex.n_units))) if units else range(ex.n_units)
        folder = out / name
        folders[name] = folder
        rf = None
        if images and ex.spatial_shape:
            try:
                rf = field_of(model, ex, data)
            except NeuronscopeError as err:
                log.info("no receptive field for %s (%s): whole images shown", name, err)
        rows = []
        mean, std, positive = ex.mean, ex.std, ex.frac_positive  # once: each converts every unit
        for u in tqdm(chosen, desc=f"drawing {name}", disable=not progress, leave=False):
            stats = (f"per-input {ex.reduce}: mean {float(mean[u]):.3g}, std "
                     f"{float(std[u]):.3g}, positive {float(positive[u]):.0%}")
            if vocab is not None:
                body = _text_unit(model, data, ex, u, vocab)
            elif images:
                body = _image_unit(model, data, ex, u, folder, rf)
            else:
                body = "<p class='muted'>(inputs are not images: statistics only)</p>"
            rows.append(f"<div class='unit' id='{esc(name)}:{u}'><h3>{esc(name)}:{u}</h3>"
                        f"<p class='muted'>{stats}</p>{body}</div>")
        folder.mkdir(parents=True, exist_ok=True)
        where = (f"the receptive field ({'x'.join(map(str, rf.size))} px, outlined) around "
                 "each input's maximum" if rf is not None and not rf.is_global
                 else "whole inputs")
        sections.append(f"<h2 id='{esc(name)}'>{esc(name)}</h2><p class='muted'>{ex.n_units} "
                        f"units, {ex.count:,} inputs ranked by their {esc(ex.reduce)} over "
                        f"positions; crops show {esc(where)}. Highest: the inputs that drive the "
                        "unit most; lowest: least.</p>" + "".join(rows))
    toc = " · ".join(f"<a href='#{esc(n)}'>{esc(n)}</a>" for n in res)
    write_text(out / "index.html", page("neuronscope: dataset examples",
                                        f"<h1>Dataset examples</h1><p>{toc}</p>"
                                        + "".join(sections)))
    return folders
