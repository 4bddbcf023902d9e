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


def masked(flat: torch.Tensor, mask: torch.Tensor | None, how: str
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-unit values [B, U, P] reduced over positions by `how`, leaving out the positions
    `mask` [B, P] marks False (padding): (values [B, U], the values with those positions
    at -inf, for the argmax). A mask that does not match the layer's positions is not
    applied.

    Example:
        >>> flat, mask = torch.tensor([[[1.0, 3.0, 9.0]]]), torch.tensor([[True, True, False]])
        >>> masked(flat, mask, "max")[0].tolist(), masked(flat, mask, "mean")[0].tolist()
        ([[3.0]], [[2.0]])
    """
    if mask is None or mask.shape != (flat.shape[0], flat.shape[2]):
        return (flat.amax(dim=2) if how == "max" else flat.mean(dim=2)), flat
    keep = mask.to(flat.device)[:, None, :]
    hidden = flat.masked_fill(~keep, float("-inf"))
    if how == "max":
        return hidden.amax(dim=2), hidden
    kept = keep.sum(dim=2).clamp(min=1).to(flat.dtype)
    return flat.masked_fill(~keep, 0).sum(dim=2) / kept, hidden


def reduce_for(state: LayerState, t: torch.Tensor, axis: int | None, how: str,
               mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Like `reduce_values`, but the position of the maximum (an argmax, which costs five
    times a max) is found only where the value can still enter the state's top or bottom
    k; elsewhere it is -1. Positions that `mask` [B, positions] leaves out (the padding of
    token sequences) count for neither the maximum nor the mean."""
    if axis is None:
        return t.reshape(t.shape[0], 1).clone(), None
    flat = per_unit(t, axis)
    if t.dim() == 2:  # a copy: the layer's own tensor may change later (an in-place ReLU)
        return flat[:, :, 0].clone(), None
    values, flat = masked(flat, mask, how)
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
