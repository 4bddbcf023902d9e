"""A layer's output for a batch, reduced to one value per example and unit."""

from __future__ import annotations

import torch

from neuronscope.core.units import per_unit

from .state import LayerState

REDUCE = ("max", "mean")


def reduce_values(t: torch.Tensor, axis: int | None, how: str
                  ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """[B, ...] -> per-unit values [B, U] and flat positions of the maximum [B, U] (or None
    for a layer without positions).

    Example:
        >>> values, pos = reduce_values(torch.arange(8.0).view(1, 2, 4), 1, "max")
        >>> values.tolist(), pos.tolist()
        ([[3.0, 7.0]], [[3, 3]])
    """
    if axis is None:
        return t.reshape(t.shape[0], 1).clone(), None
    flat = per_unit(t, axis)
    if t.dim() == 2:  # a copy: the layer's own tensor may change later (an in-place ReLU)
        return flat[:, :, 0].clone(), None
    peak, where = flat.max(dim=2)
    return (peak if how == "max" else flat.mean(dim=2)), where


def reduce_for(state: LayerState, t: torch.Tensor, axis: int | None, how: str
               ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Like `reduce_values`, but the position of the maximum (an argmax, which costs five
    times a max) is found only where the value can still enter the state's top or bottom
    k; elsewhere it is -1."""
    if axis is None:
        return t.reshape(t.shape[0], 1).clone(), None
    flat = per_unit(t, axis)
    if t.dim() == 2:  # a copy: the layer's own tensor may change later (an in-place ReLU)
        return flat[:, :, 0].clone(), None
    values = flat.amax(dim=2) if how == "max" else flat.mean(dim=2)
    if state.count < state.k:
        maybe = torch.ones_like(values, dtype=torch.bool)
    else:  # the state only gets stricter until these values reach it: a superset
        top = state.top_values[:, -1].to(values)
        maybe = (values >= top) | torch.isnan(values)
        if state.bottom:
            bot = state.bot_values[:, -1].to(values)
            maybe |= (values <= bot) | torch.isnan(bot)
    pos = torch.full(values.shape, -1, dtype=torch.int64, device=values.device)
    rows, units = maybe.nonzero(as_tuple=True)
    if len(rows):
        pos[rows, units] = flat[rows, units].argmax(dim=1)
    return values, pos
