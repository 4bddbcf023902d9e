"""A unit's value over time as a strip of colour under a picture of its input (a
spectrogram): white at zero, red above, blue below, deeper the larger, the same shading
as text snippets (`neuronscope.render.examples.text_html`), so that a page shows where in
a sound the unit fired.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .examples import BLUE, RED

LINE = 0.15  # the gray of the value's line


def trace_strips(traces: torch.Tensor, width: int, rows: int,
                 vmax: float | None = None) -> torch.Tensor:
    """Traces [k, T] as RGB strips [k, 3, rows, width] in [0, 1]: each column the mean of
    the steps it covers, its colour's depth |value| / `vmax` (default: the largest
    magnitude over all the traces). A strip of 4 rows or more also draws the value as a
    dark line from the lowest value of all the traces (bottom row) to the highest (top),
    so that a unit that never nears zero still shows where it rose and fell.

    Example:
        >>> s = trace_strips(torch.tensor([[0.0, 1.0, -1.0, 0.5]]), width=4, rows=2)
        >>> s.shape, s[0, :, 0, 0].tolist(), [round(v, 3) for v in s[0, :, 0, 1].tolist()]
        (torch.Size([1, 3, 2, 4]), [1.0, 1.0, 1.0], [0.863, 0.157, 0.157])
    """
    t = traces.float().reshape(len(traces), 1, -1)
    if t.shape[-1] != width:
        t = F.adaptive_avg_pool1d(t, width)
    t = t[:, 0].nan_to_num(0.0)  # [k, width]
    scale = float(t.abs().max()) if vmax is None else float(vmax)
    depth = (t.abs() / scale).clamp(0, 1) if scale > 0 else torch.zeros_like(t)
    red, blue = (torch.tensor(c, dtype=torch.float32) / 255 for c in (RED, BLUE))
    colour = torch.where((t >= 0)[..., None], red, blue)  # [k, width, 3]
    rgb = 1 - depth[..., None] * (1 - colour)  # over white
    out = rgb.permute(0, 2, 1)[:, :, None, :].expand(-1, -1, rows, -1).contiguous()
    lo, hi = float(t.min()), float(t.max())
    if rows >= 4 and hi > lo:  # the line: row 0 is the top
        row = ((hi - t) / (hi - lo) * (rows - 1)).round().long()  # [k, width]
        out.scatter_(2, row[:, None, None, :].expand(-1, 3, 1, -1), LINE)
    return out


def varies(traces: torch.Tensor | None) -> bool:
    """Whether any trace [k, T] changes over time (a unit without positions repeats one
    value at every step: a strip of it says nothing).

    Example:
        >>> varies(torch.ones(2, 5)), varies(torch.tensor([[0.0, 1.0]])), varies(None)
        (False, True, False)
    """
    if traces is None or traces.numel() == 0:
        return False
    t = traces.float()
    return bool((t.amax(-1) - t.amin(-1)).max() > 1e-6 * max(1.0, float(t.abs().max())))


def with_strips(images: torch.Tensor, traces: torch.Tensor | None, gap: int = 1,
                rows: int | None = None) -> torch.Tensor:
    """Pictures [k, 3, H, W] with each trace's strip (`trace_strips`, `rows` high, by
    default an eighth of the picture and at least 2) under it after `gap` white rows; the
    pictures alone when no trace changes over time (`varies`).

    Example:
        >>> with_strips(torch.zeros(2, 3, 16, 10), torch.rand(2, 40)).shape
        torch.Size([2, 3, 19, 10])
    """
    if not varies(traces) or traces is None or len(traces) != len(images):
        return images
    k, _, h, w = images.shape
    strips = trace_strips(traces, w, rows or max(2, h // 8))
    white = torch.ones(k, 3, gap, w)
    return torch.cat([images.float(), white, strips], dim=2)
