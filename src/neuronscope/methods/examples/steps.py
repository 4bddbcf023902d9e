"""Laying a layer's positions along its input's steps: which layer position stands for
each input step (a character, a frame, a sample), so that a unit's value can be drawn
under the input, and where a recorded peak falls in the input.

A layer with as many positions as the input has steps: position t is step t (an RNN, a
Transformer, a padded convolution). One with fewer (strided or pooled): with the layer's
receptive field (`neuronscope.core.receptive`) the position whose centre is nearest to
each step stands for it, exact for any stride, pooling and padding; without one, the
positions are equal shares of the input, in order (exact for padded strided layers, off
by at most half a kernel for unpadded ones). One with more (a convolution padded on both
sides whose extra positions the model drops later, as a causal one does): position t is
step t, and the positions past the input's end stand for no step (`past_end`).
"""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass

import torch

from ...core.field import ReceptiveField


@dataclass(frozen=True)
class Along:
    """How a layer is laid along its input: the layer's receptive ``field`` (for a layer
    shorter than the input; None: equal shares) and ``width``, the most columns a trace
    is kept at (each the mean of its share of the steps; None: one per step), for a
    picture narrower than the input has steps (a waveform's samples)."""

    field: ReceptiveField | None = None
    width: int | None = None


def usable(field: ReceptiveField | None, have: int, steps: int) -> bool:
    """Whether `field` lays a layer of `have` positions along `steps` input steps: the
    layer is shorter and the field has a stride (not a global one)."""
    return (have < steps and field is not None and not field.is_global
            and bool(field.stride))


def positions_for(have: int, steps: int, field: ReceptiveField | None = None
                  ) -> torch.Tensor:
    """For each of `steps` input steps, the one of `have` layer positions that stands for
    it (see the module docstring): a long tensor [steps].

    Example:
        >>> positions_for(2, 4).tolist(), positions_for(6, 4).tolist()
        ([0, 0, 1, 1], [0, 1, 2, 3])
        >>> f = ReceptiveField(size=(5,), stride=(2,), offset=(0.0,), method="analytic")
        >>> positions_for(3, 5, f).tolist()  # stride 2: centres at 0, 2, 4 (ties: the later)
        [0, 1, 1, 2, 2]
    """
    s = torch.arange(steps, dtype=torch.float64)
    if usable(field, have, steps):
        assert field is not None
        at = (s - field.offset[-1]) / field.stride[-1]
    elif have < steps:
        at = (s + 0.5) * have / steps - 0.5
    else:
        at = s
    return (at + 1e-9).round().clamp(0, max(have - 1, 0)).long()


def input_step(position: int, have: int, steps: int, field: ReceptiveField | None = None
               ) -> int | None:
    """The input step at the centre of layer `position` (of `have`), within the input
    for a layer shorter than it (a border position's centre may lie just outside); -1
    for a layer of one position (no peak to show); None past the input's end (the extra
    positions of a layer longer than the input).

    Example:
        >>> input_step(1, 2, 4), input_step(5, 6, 6), input_step(5, 6, 4), input_step(0, 1, 4)
        (3, 5, None, -1)
        >>> f = ReceptiveField(size=(3,), stride=(2,), offset=(-1.0,), method="analytic")
        >>> input_step(0, 3, 5, f)  # its centre is step -1: its window starts the input
        0
    """
    if have <= 1 or (field is not None and field.is_global):
        return -1
    if usable(field, have, steps):
        assert field is not None
        at = field.offset[-1] + position * field.stride[-1]
    elif have < steps:
        at = (position + 0.5) * steps / have - 0.5
    else:
        return position if position < steps else None
    return min(max(int(round(at + 1e-9)), 0), steps - 1)


def past_end(have: int, steps: int) -> int:
    """How many of a layer's `have` positions stand for no step of an input of `steps`.

    Example:
        >>> past_end(100, 96), past_end(48, 96)
        (4, 0)
    """
    return max(have - steps, 0)


def tell_past_end(model: object, layer: str, shape: tuple[int, ...], steps: int) -> bool:
    """Log once per model and layer (of positions `shape`, without units) that the layer
    has more positions than its input has `steps`: its extra positions count in a
    ranking but stand for no step. True when it has.

    Example:
        >>> import torch.nn as nn
        >>> m = nn.Identity()
        >>> tell_past_end(m, "conv", (12,), 8), tell_past_end(m, "fc", (8,), 8)
        (True, False)
    """
    extra = past_end(shape[-1], steps) if len(shape) == 1 else 0
    if not extra:
        return False
    try:
        told = _TOLD.setdefault(model, set())
    except TypeError:  # not weakly referable: told every time
        told = set()
    if layer not in told:
        told.add(layer)
        logger.warning(
            "%s has %d positions for inputs of %d steps: position t stands for step t, and "
            "the last %d (padding a causal convolution drops later?) count in its ranking "
            "but stand for no step; examples that peak there say so", layer, shape[-1],
            steps, extra)
    return True


_TOLD: weakref.WeakKeyDictionary[object, set[str]] = weakref.WeakKeyDictionary()
logger = logging.getLogger(__name__)


def along(trace: torch.Tensor, steps: int, how: Along | None = None) -> torch.Tensor:
    """Traces [..., have] laid along an input of `steps` steps: [..., steps], or
    [..., how.width] where that is fewer (each column the mean over its share of the
    steps).

    Example:
        >>> along(torch.tensor([[1.0, 2.0]]), 4).tolist()
        [[1.0, 1.0, 2.0, 2.0]]
        >>> along(torch.tensor([[1.0, 2.0, 3.0, 5.0]]), 4, Along(width=2)).tolist()
        [[1.5, 4.0]]
    """
    how = how or Along()
    have = trace.shape[-1]
    at = (positions_for(have, steps, how.field) if have < steps
          else torch.arange(min(steps, have)))
    if how.width is None or how.width >= len(at):
        return trace[..., at]
    columns = torch.arange(len(at)) * how.width // len(at)
    share = torch.zeros(have, how.width, dtype=trace.dtype)
    share.index_put_((at, columns), torch.ones(len(at), dtype=trace.dtype), accumulate=True)
    return trace @ (share / share.sum(0))
