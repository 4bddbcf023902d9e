"""One cell over text: every character's background shaded by the cell's value there (red
positive, blue negative, with a legend), and the top-k snippets where it is largest.

Render never runs a model: it takes the text and the cell's values [n] (one per
character), as `neuronscope.methods.cells.cell_values` or
``explain_cells(..., keep_values=True)`` give them.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import torch

from .examples import _shade, text_html

LEGEND_STEPS = (-1.0, -0.5, 0.0, 0.5, 1.0)


def legend(vmax: float) -> str:
    """A strip of sample shades from -vmax (blue) to +vmax (red), labelled.

    Example:
        >>> "rgba(40, 90, 220, 1.00)" in legend(2.0)
        True
    """
    cells = "".join(
        f'<span style="background:{_shade(f * vmax, vmax)};padding:0 0.6em">'
        f"{f * vmax:+.2g}</span>" for f in LEGEND_STEPS)
    return (f"<div class='legend' style='font:0.85rem monospace;margin:0.4rem 0'>"
            f"cell value: {cells} <span class='muted'>(blue negative, red positive)</span>"
            f"</div>")


def _check(text: str, values: torch.Tensor | Sequence[float]) -> torch.Tensor:
    v = torch.as_tensor(values, dtype=torch.float32).reshape(-1)
    if len(v) != len(text):
        raise ValueError(f"the text has {len(text)} characters but {len(v)} values were "
                         "given: one value per character")
    return v


def cell_html(text: str, values: torch.Tensor | Sequence[float], title: str = "",
              vmax: float | None = None, max_chars: int = 20_000) -> str:
    """`text` with each character's background shaded by `values` [len(text)] (scale:
    `vmax`, default the largest |value|), a legend above; an HTML fragment. Text past
    `max_chars` is cut (and the cut is said), to keep a page small.

    Example:
        >>> frag = cell_html("ab\\n", [1.0, -1.0, 0.0], title="lstm.c:3")
        >>> "lstm.c:3" in frag and "rgba(220, 40, 40, 1.00)" in frag
        True
    """
    v = _check(text, values)
    cut = len(text) > max_chars
    text, v = text[:max_chars], v[:max_chars]
    scale = float(vmax) if vmax is not None else float(v.abs().max()) if len(v) else 1.0
    scale = scale if scale > 0 else 1.0
    head = f"<h3>{html.escape(title)}</h3>" if title else ""
    note = (f"<div class='muted'>first {max_chars:,} characters shown</div>" if cut else "")
    return head + legend(scale) + text_html([text], [v.tolist()], vmax=scale) + note


def top_snippets(text: str, values: torch.Tensor | Sequence[float], k: int = 5,
                 context: int = 40, largest: bool = True
                 ) -> list[tuple[int, float, str, list[float]]]:
    """The `k` positions where `values` are largest (``largest=False``: smallest), at
    least `context` characters apart: [(position, value, snippet, snippet values)], the
    snippet being the `context` characters either side of the position.

    Example:
        >>> [p for p, *_ in top_snippets("abcdef", [0, 5, 0, 0, 9, 0], k=2, context=1)]
        [4, 1]
    """
    v = _check(text, values)
    if k < 1 or context < 0:
        raise ValueError(f"need k >= 1 and context >= 0, got {k}, {context}")
    order = torch.argsort(v if not largest else -v, stable=True).tolist()
    taken: list[int] = []
    for pos in order:
        if all(abs(pos - t) > context for t in taken):
            taken.append(pos)
            if len(taken) == k:
                break
    out = []
    for pos in taken:
        lo, hi = max(0, pos - context), min(len(text), pos + context + 1)
        out.append((pos, float(v[pos]), text[lo:hi], v[lo:hi].tolist()))
    return out


def snippets_html(text: str, values: torch.Tensor | Sequence[float], k: int = 5,
                  context: int = 40, title: str = "", largest: bool = True) -> str:
    """The top-`k` snippets of a cell (`top_snippets`: highest first, or with
    ``largest=False`` lowest first), shaded on one scale, each titled with its position
    and value; an HTML fragment.

    Example:
        >>> "position 4" in snippets_html("abcdef", [0, 5, 0, 0, 9, 0], k=1, context=1)
        True
    """
    tops = top_snippets(text, values, k, context, largest)
    v = _check(text, values)
    scale = float(v.abs().max()) or 1.0
    head = f"<h3>{html.escape(title)}</h3>" if title else ""
    body = text_html([s for _, _, s, _ in tops], [sv for *_, sv in tops], vmax=scale,
                     titles=[f"position {p}: {val:.3g}" for p, val, _, _ in tops])
    return head + legend(scale) + body
