"""Pictures of network dissection (Bau et al. 2017): one unit's thresholded region outlined
on its top images, and the per-layer count of detectors and unique concepts by category."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image

from .grid import image_grid
from .plots import _figure, _save

LINE = (1.0, 0.9, 0.0)  # the contour: bright yellow, 2 px inside the region ...
EDGE = (0.0, 0.0, 0.0)  # ... between two dark 1 px lines, so it reads on any image
DIM = 0.55  # brightness outside the region
CATEGORY_COLOURS = {  # one colour per category in every chart (Broden's six, and shapes')
    "color": "C1", "shape": "C0", "texture": "C2", "object": "C3", "part": "C4",
    "material": "C5", "scene": "C6",
}


def _dilate(m: torch.Tensor, r: int) -> torch.Tensor:
    return F.max_pool2d(m, 2 * r + 1, stride=1, padding=r) if r else m


def _erode(m: torch.Tensor, r: int) -> torch.Tensor:
    """Erosion with the frame counted as outside, so a region touching it is outlined there."""
    return 1 - F.max_pool2d(F.pad(1 - m, (r,) * 4, value=1.0), 2 * r + 1, stride=1) if r else m


def outlined(
    images: torch.Tensor,
    maps: torch.Tensor,
    level: float,
    labels: Sequence[str] | None = None,
    size: int | None = None,
) -> Image.Image:
    """One unit's images [k, C, H, W] (display space, [0, 1]) in a row, the region where
    its map (maps [k, h, w], upsampled bilinearly to H x W as the dissection does) reaches
    `level` outlined in yellow and the rest dimmed. Maps [k] (a unit without
    positions) outline the whole frame when on. `level` is the value at or above which a
    position is on: ``Dissection.levels[u]`` (just under the unit's threshold). Each image
    is scaled up (nearest, by a whole factor) to at least `size` pixels (default 112);
    `labels` caption the images.

    Example:
        >>> maps = torch.zeros(2, 4, 4)
        >>> maps[0, :2, :2] = 1.0
        >>> outlined(torch.rand(2, 3, 64, 64), maps, 0.5, labels=["a", "b"]).size[0]
        262
    """
    x = images.detach().float().cpu().clamp(0, 1)
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"outlined takes images [k, 3 or 1, H, W], got {tuple(images.shape)}")
    x = x.expand(-1, 3, -1, -1)
    k, _, h, w = x.shape
    m = maps.detach().float().cpu()
    if len(m) != k:
        raise ValueError(f"{len(m)} maps for {k} images")
    m = m.view(k, 1, 1, 1).expand(k, 1, h, w) if m.dim() == 1 else m.reshape(k, 1, *m.shape[-2:])
    if m.shape[-2:] != (h, w):
        m = F.interpolate(m, size=(h, w), mode="bilinear", align_corners=False)
    on = (m >= float(level)).float()  # the dissection's own test (iou.py)
    s = max(1, math.ceil((size or 112) / max(h, w)))
    x = x.repeat_interleave(s, 2).repeat_interleave(s, 3)
    on = on.expand(k, 1, h, w).repeat_interleave(s, 2).repeat_interleave(s, 3)
    line = on - _erode(on, 2)
    edge = (_dilate(on, 1) - on) + (_erode(on, 2) - _erode(on, 3))
    out = x * (on + (1 - on) * DIM)
    for ring, colour in ((line, LINE), (edge, EDGE)):
        out = torch.where(ring.bool(), torch.tensor(colour).view(1, 3, 1, 1), out)
    return image_grid(out, nrow=k, pad=2, normalize=None, labels=labels)


def _category(concept: str) -> str:
    return concept.split(":", 1)[0] if ":" in concept else "concept"  # as Dissection does


def counts(dissections: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per layer (in the mapping's order): its units, its detectors (units whose best IoU
    reaches the IoU threshold), the distinct best concepts among them (unique), and both
    by category (every category of the concept list, zeros included, in its order).

    Example:
        >>> from neuronscope.methods.dissect.result import Dissection
        >>> d = Dissection("conv1", ["color:red", "shape:circle"], torch.ones(3),
        ...                torch.tensor([[0.6, 0.1], [0.5, 0.0], [0.0, 0.01]]), 0.005, 0.04, 10)
        >>> counts({"conv1": d})[0]  # doctest: +NORMALIZE_WHITESPACE
        {'layer': 'conv1', 'units': 3, 'detectors': 2, 'unique': 1,
         'by_category': {'color': 1, 'shape': 0}, 'detectors_by_category': {'color': 2, 'shape': 0}}
    """
    rows = []
    for layer, d in dissections.items():
        cats = dict.fromkeys(_category(c) for c in d.concept_names)
        best = [d.concepts[u] for u in d.detectors]
        by_cat = {c: len({b for b in best if _category(b) == c}) for c in cats}
        det_cat = {c: sum(_category(b) == c for b in best) for c in cats}
        row = {"layer": layer, "units": int(d.iou.shape[0]), "detectors": len(best)}
        row |= {"unique": len(set(best)), "by_category": by_cat, "detectors_by_category": det_cat}
        rows.append(row)
    return rows


def detector_bars(
    dissections: Mapping[str, Any], path: str | Path, title: str | None = None
) -> Path:
    """Figure 4 of Bau et al. 2017: per layer (x axis, in the mapping's order), bars of
    unique concepts detected stacked by category (left) and of detector units stacked by
    category, with "detectors / units" on top (right). Saved as PNG; returns the path.

    Example:
        >>> import tempfile
        >>> from neuronscope.methods.dissect.result import Dissection
        >>> d = Dissection("conv1", ["color:red", "shape:circle"], torch.ones(2),
        ...                torch.tensor([[0.6, 0.1], [0.0, 0.5]]), 0.005, 0.04, 10)
        >>> detector_bars({"conv1": d}, Path(tempfile.mkdtemp()) / "d.png").suffix
        '.png'
    """
    from matplotlib.ticker import MaxNLocator

    rows = counts(dissections)
    cats = list(dict.fromkeys(c for r in rows for c in r["by_category"]))
    palette = [CATEGORY_COLOURS.get(c, f"C{(7 + i) % 10}") for i, c in enumerate(cats)]
    fig, ax = _figure(1, 2, (max(3.5, 0.9 * len(rows) + 1.5), 3.8))
    xs = list(range(len(rows)))
    for a, key, total, ylabel in (
        (ax[0][0], "by_category", "unique", "unique concepts detected"),
        (ax[0][1], "detectors_by_category", "detectors", "detector units"),
    ):
        bottom = [0] * len(rows)
        for cat, colour in zip(cats, palette, strict=True):
            v = [r[key].get(cat, 0) for r in rows]
            a.bar(xs, v, bottom=bottom, color=colour, label=cat, width=0.7)
            bottom = [b + n for b, n in zip(bottom, v, strict=True)]
        for i, r in enumerate(rows):
            text = f"{r[total]}" if total == "unique" else f"{r['detectors']}/{r['units']}"
            a.text(i, bottom[i], text, ha="center", va="bottom", fontsize=8)
        a.set_xticks(xs, [r["layer"] for r in rows], rotation=30 if len(rows) > 6 else 0)
        a.set_ylabel(ylabel)
        a.yaxis.set_major_locator(MaxNLocator(integer=True))
        a.set_ylim(0, max([*bottom, 1]) * 1.15)
    handles, names = ax[0][1].get_legend_handles_labels()  # listed top-down, as stacked
    place = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0), "fontsize": 8}
    ax[0][1].legend(handles[::-1], names[::-1], title="category", title_fontsize=8, **place)
    ax[0][1].set_title("detectors / units", fontsize=9)
    ax[0][0].set_title("unique concepts", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path)
