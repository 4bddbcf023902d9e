"""Starts that end below a flat colour are optimized again from that colour.

A unit of a network's first layers (a filter on pixels plus a bias, then a ReLU6) is often
driven most by a flat, saturated colour: black, white, pure red. Such an image is a long
way from gray noise in the Fourier parameterization (the mean colour is one coefficient
per channel, and the saturated, decorrelated colours need it large), so 64 steps end
short of it, and a plain dark photograph beats the visualization. After the optimization
every target is scored on a palette of flat colours (one pass for all targets); each
image that ends below its target's best colour is optimized again, with the same settings,
from that colour, and kept if it ends higher. Deeper units, whose images beat every flat
colour, are left as they were.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import torch

from .objectives import per_image

LEVELS = (0.05, 0.5, 0.95)  # inside the sigmoid's reach: it still passes a gradient there


def palette(channels: int) -> torch.Tensor:
    """The flat colours tried [P, channels] in [0, 1]: every combination of `LEVELS`.

    Example:
        >>> palette(3).shape, palette(1).shape
        (torch.Size([27, 3]), torch.Size([3, 1]))
    """
    return torch.tensor(list(itertools.product(LEVELS, repeat=channels)))


def below_flat(targets: list[Any], n_starts: int, run: Any, values: torch.Tensor, sign: float,
               shape: tuple[int, int, int], value_range: tuple[float, float],
               device: torch.device) -> dict[int, torch.Tensor]:
    """The images (by index) whose value (`values`, times `sign`) stays below their
    target's best flat colour, each with that colour as an image [C, H, W]."""
    channels, h, w = shape
    if channels > 4:  # 3^C colours: only for image-like inputs
        return {}
    lo, hi = value_range
    colours = lo + (hi - lo) * palette(channels)
    images = colours.view(-1, channels, 1, 1).expand(-1, channels, h, w)
    with torch.no_grad():
        seen = run(images.to(device))
        scores = torch.stack([sign * per_image([t], len(colours))(seen).detach().cpu()
                              for t in targets])  # [targets, colours]
    best, which = scores.max(1)
    return {i: images[int(which[i // n_starts])] for i in range(len(values))
            if bool(best[i // n_starts] > sign * values[i])}


def restart(found: dict[int, torch.Tensor], targets: list[Any], n_starts: int,
            optimize: Callable[[list[Any], list[int], torch.Tensor], tuple[Any, Any, Any]],
            final: torch.Tensor, values: torch.Tensor, losses: list[torch.Tensor], sign: float
            ) -> list[int]:
    """Optimize the images of `found` again from their colours (`optimize(targets, image
    indices, starts)` returns their final images, values and per-step losses) and keep
    each one that ends higher, in place in `final`, `values` and `losses`. Returns the
    indices kept."""
    if not found:
        return []
    idx = sorted(found)
    images, got, steps = optimize([targets[i // n_starts] for i in idx], idx,
                                  torch.stack([found[i] for i in idx]))
    kept = []
    for j, i in enumerate(idx):
        if sign * got[j] > sign * values[i]:
            final[i], values[i] = images[j].to(final.device), got[j]
            for step, loss in zip(losses, steps, strict=True):
                step[i] = loss[j]
            kept.append(i)
    return kept
