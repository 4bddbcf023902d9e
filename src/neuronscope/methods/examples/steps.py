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
step t, and the positions past the input's end stand for no step.
"""

from __future__ import annotations

from typing import Any

import torch

from ...core.errors import NeuronscopeError
from ...core.field import ReceptiveField


def _usable(field: ReceptiveField | None, have: int, steps: int) -> bool:
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
    if _usable(field, have, steps):
        assert field is not None
        at = (s - field.offset[-1]) / field.stride[-1]
    elif have < steps:
        at = (s + 0.5) * have / steps - 0.5
    else:
        at = s
    return (at + 1e-9).round().clamp(0, max(have - 1, 0)).long()


def input_step(position: int, have: int, steps: int, field: ReceptiveField | None = None
               ) -> int | None:
    """The input step at the centre of layer `position` (of `have`), or None where it
    falls outside the input's `steps` (the extra positions of a layer longer than it).

    Example:
        >>> input_step(1, 2, 4), input_step(5, 6, 6), input_step(5, 6, 4)
        (3, 5, None)
    """
    if _usable(field, have, steps):
        assert field is not None
        at = field.offset[-1] + position * field.stride[-1]
    elif have < steps:
        at = (position + 0.5) * steps / have - 0.5
    else:
        at = position
    step = int(round(at + 1e-9))
    return step if 0 <= step < steps else None


def along(trace: torch.Tensor, steps: int, field: ReceptiveField | None = None
          ) -> torch.Tensor:
    """Traces [..., have] laid along an input of `steps` steps: [..., steps].

    Example:
        >>> along(torch.tensor([[1.0, 2.0]]), 4).tolist()
        [[1.0, 1.0, 2.0, 2.0]]
    """
    have = trace.shape[-1]
    if have >= steps:
        return trace[..., :steps]
    return trace[..., positions_for(have, steps, field)]


def time_field(model: Any, ex: Any, data: Any, steps: int) -> ReceptiveField | None:
    """The receptive field that lays `ex`'s layer along its input's last axis, where the
    layer has fewer positions there than the input's `steps`; None where it has as many
    or more, or no field can be measured."""
    from .show import field_of

    shape = ex.spatial_shape
    if not shape or shape[-1] >= steps:
        return None
    try:
        field = field_of(model, ex, data)
    except NeuronscopeError:
        return None
    return field if _usable(field, shape[-1], steps) else None
