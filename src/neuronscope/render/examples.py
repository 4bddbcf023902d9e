"""Pictures of dataset examples: a grid of crops, and text shaded by a unit's activation."""

from __future__ import annotations

import html
from collections.abc import Sequence

import torch
from PIL import Image

from .grid import image_grid


def example_grid(crops: torch.Tensor, values: Sequence[float], nrow: int | None = None,
                 scale: int | None = None, box: Sequence[int] | None = None,
                 outline: tuple[float, float, float] = (1.0, 0.85, 0.0)) -> Image.Image:
    """The crops [k, C, S, S] (display space, values in [0, 1]) in a grid, each labelled
    with its activation; `box` (top, left, bottom, right in crop pixels) is outlined
    in every crop, to mark the receptive field inside its context.

    Example:
        >>> example_grid(torch.rand(9, 3, 16, 16), [float(v) for v in range(9)]).mode
        'RGB'
    """
    if len(crops) == 0:
        return Image.new("RGB", (64, 16), "white")
    crops = crops.float()
    if box is not None:
        if crops.shape[1] == 1:
            crops = crops.repeat(1, 3, 1, 1)
        t, left, b, r = (int(v) for v in box)
        color = torch.tensor(outline).view(1, 3, 1)
        t, left = max(t, 0), max(left, 0)
        b, r = min(b, crops.shape[-2]) - 1, min(r, crops.shape[-1]) - 1
        crops[:, :, t, left:r + 1] = color
        crops[:, :, b, left:r + 1] = color
        crops[:, :, t:b + 1, left] = color
        crops[:, :, t:b + 1, r] = color
    side = crops.shape[-1]
    scale = scale if scale is not None else max(1, 64 // side)
    labels = [f"{v:.3g}" for v in values]
    return image_grid(crops, nrow=nrow or min(len(crops), 9), pad=2, scale=scale,
                      normalize=None, labels=labels)


RED, BLUE = (220, 40, 40), (40, 90, 220)  # positive and negative values, as text and strips


def _shade(value: float, vmax: float) -> str:
    """Red for positive, blue for negative, stronger for larger magnitude."""
    alpha = min(1.0, abs(value) / vmax) if vmax > 0 else 0.0
    rgb = ", ".join(map(str, RED if value >= 0 else BLUE))
    return f"rgba({rgb}, {alpha:.2f})"


def text_html(texts: Sequence[str | Sequence[str]], activations: Sequence[Sequence[float]],
              vmax: float | None = None, titles: Sequence[str] | None = None,
              marks: Sequence[int | None] | None = None) -> str:
    """Snippets with every character's (or token's) background shaded by the unit's
    activation there.

    `texts[i]` is a string (one value per character) or a list of pieces (one value per
    token, a piece being the text it stands for); `activations[i]` has one entry per
    character or piece. The shading scale is `vmax` (default: the largest magnitude over
    all snippets). `marks[i]`, when given, is the index of the piece to outline (the
    peak). Returns an HTML fragment; each piece carries its value in a tooltip.

    Example:
        >>> "rgba(220, 40, 40, 1.00)" in text_html(["ab"], [[1.0, -0.5]])
        True
        >>> "class='peak'" in text_html([["a", " cat"]], [[0.1, 1.0]], marks=[1])
        True
    """
    if len(texts) != len(activations):
        raise ValueError(f"{len(texts)} texts but {len(activations)} activation rows")
    flat = [abs(float(a)) for row in activations for a in row]
    scale = vmax if vmax is not None else (max(flat) if flat else 1.0)
    blocks = []
    for n, (text, row) in enumerate(zip(texts, activations, strict=True)):
        if len(text) != len(row):
            raise ValueError(f"snippet {n} has {len(text)} characters and {len(row)} values")
        mark = marks[n] if marks is not None else None
        spans = "".join(
            f'<span title="{float(a):.3f}" style="background:{_shade(float(a), scale)}'
            f'{PEAK if i == mark else chr(34)}>{_piece(ch)}</span>'
            for i, (ch, a) in enumerate(zip(text, row, strict=True))
        )
        title = f"<div class='muted'>{html.escape(titles[n])}</div>" if titles else ""
        blocks.append(f"<div class='snippet'>{title}<pre style='white-space: pre-wrap; "
                      f"margin: 0.2rem 0 0.6rem'>{spans}</pre></div>")
    return "\n".join(blocks)


PEAK = "; outline: 1px solid #222\" class='peak'"  # the outlined piece: the unit's peak


def _piece(text: str) -> str:
    """A piece of text as HTML, a line end shown as a return sign before the break."""
    return html.escape(text).replace("\n", "&#8629;<br>")
