"""Pages of dataset examples: per unit its top and bottom examples, drawn by the input
kind of the data (crops for images, shaded snippets for text), and an index page with
every unit of every mined layer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image
from torch import nn
from tqdm.auto import tqdm

from ..methods.examples import LayerExamples, TopExamples
from ..render.grid import save_png
from ..render.html import esc, page, write_text
from .drawing import ExampleDrawer
from .store import AtlasStore


def _unit(drawer: ExampleDrawer, ex: LayerExamples, u: int, folder: Path) -> str:
    if drawer.kind is None:
        return "<p class='muted'>(no input kind draws these inputs: statistics only)</p>"
    cells = []
    for bottom in (False, True) if ex.bottom_indices.shape[1] else (False,):
        picture = drawer.unit(u, bottom=bottom)
        caption = "lowest" if bottom else "highest"
        if isinstance(picture, Image.Image):
            name = AtlasStore.unit_name(u, "bottom" if bottom else "top") + ".png"
            folder.mkdir(parents=True, exist_ok=True)  # only where pictures are files
            save_png(picture, folder / name)
            cells.append(f"<figure><img src='{esc(folder.name)}/{name}' alt='{caption} "
                         f"examples of unit {u}'><figcaption>{caption}</figcaption></figure>")
        elif picture is not None:
            cells.append(f"<h4>{caption}</h4>{picture}")
    return " ".join(cells)


def write_examples(model: nn.Module, data: Any, res: TopExamples, out: str | Path,
                   units: dict[str, list[int]] | None = None, progress: bool = True
                   ) -> dict[str, Path]:
    """Draw the examples of `res` into `out`: ``out/LAYER/unit-0017-top.png`` (and
    ``-bottom``) for images, shaded snippets for text (in the page: no folder), and
    ``out/index.html``.

    `units` limits the units drawn per layer (default: every unit). Returns the
    folder of each layer (made where it holds pictures).

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
    folders: dict[str, Path] = {}
    sections = []
    for name in res:
        ex = res[name]
        chosen = units.get(name, list(range(ex.n_units))) if units else range(ex.n_units)
        folder = out / name
        out.mkdir(parents=True, exist_ok=True)
        folders[name] = folder
        drawer = ExampleDrawer(model, data, ex)
        rows = []
        mean, std, positive = ex.mean, ex.std, ex.frac_positive  # once: each converts every unit
        for u in tqdm(chosen, desc=f"drawing {name}", disable=not progress, leave=False):
            stats = (f"per-input {ex.reduce}: mean {float(mean[u]):.3g}, std "
                     f"{float(std[u]):.3g}, positive {float(positive[u]):.0%}")
            rows.append(f"<div class='unit' id='{esc(name)}:{u}'><h3>{esc(name)}:{u}</h3>"
                        f"<p class='muted'>{stats}</p>{_unit(drawer, ex, u, folder)}</div>")
        sections.append(f"<h2 id='{esc(name)}'>{esc(name)}</h2><p class='muted'>{ex.n_units} "
                        f"units, {ex.count:,} inputs ranked by their {esc(ex.reduce)} over "
                        f"positions; pictures show {esc(drawer.where())}. Highest: the inputs "
                        "that drive the unit most; lowest: least.</p>" + "".join(rows))
    toc = " · ".join(f"<a href='#{esc(n)}'>{esc(n)}</a>" for n in res)
    write_text(out / "index.html", page("neuronscope: dataset examples",
                                        f"<h1>Dataset examples</h1><p>{toc}</p>"
                                        + "".join(sections)))
    return folders
