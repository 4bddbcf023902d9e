"""Receptive fields: which input pixels a unit of a layer can see.

Two ways to find them. The *analytic* walk composes kernel, stride, padding and
dilation of the conv and pool modules along the chain of module calls that leads
to the layer; it is exact but only valid for a plain chain. The *gradient*
footprint backpropagates from the unit at the centre of the layer's map to the
input and measures the non-zero region; it works for any graph (residual,
branching, functional ops) but is cut by the input border, so it reports what the
given input size lets the unit see.

Token inputs (integer ids [B, T] read by an ``nn.Embedding``) have no gradient: their
footprint is measured on the output of the first embedding that runs, one vector per
token, so a field's size and stride count tokens (steps). A model whose integer input
no embedding reads has no field to measure (a NeuronscopeError).

Coordinates are input pixel indices; ``offset`` is the input coordinate of the
centre of the unit at position 0 (half-integers for even sizes).

The result is a `ReceptiveField` (field.py); the two ways are receptive_chain.py and
receptive_gradient.py.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn

from .errors import NeuronscopeError
from .field import ReceptiveField
from .hooks import forward_kwargs
from .layers import eval_mode, resolve_example, rnn_not_batch_first
from .receptive_chain import NotAChain, analytic
from .receptive_gradient import gradient
from .units import Unit, find_module

logger = logging.getLogger(__name__)

METHODS = ("auto", "analytic", "gradient")
__all__ = ["METHODS", "ReceptiveField", "receptive_field"]


def receptive_field(model: nn.Module, layer: Any, example_input: Any = None,
                    method: str = "auto", *, samples: int = 8, seed: int = 0) -> ReceptiveField:
    """The receptive field of the units of `layer` in input pixels.

    `layer` is a layer address (a unit address uses its layer). `method` is
    ``"analytic"`` (conv/pool arithmetic along a chain of module calls; refused with
    the reason when the calls do not form a chain), ``"gradient"`` (the footprint of
    the centre unit over `samples` seeded random inputs; any graph) or ``"auto"``
    (analytic when valid, else gradient, logging why). Normalization modules count
    as element-wise, as is conventional. The analytic size may exceed the input;
    the gradient footprint is cut by the input border. Token ids (an integer input) are
    measured by the gradient footprint on the first ``nn.Embedding``'s output: in tokens.

    Example:
        >>> import torch, torch.nn as nn
        >>> model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(2), nn.Conv2d(2, 2, 3))
        >>> rf = receptive_field(model, "2", torch.zeros(1, 1, 16, 16))
        >>> rf.size, rf.stride, rf.method
        ((8, 8), (2, 2), 'analytic')
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    unit = Unit(Unit.parse(layer).layer)
    find_module(model, unit.module_path)  # LayerNotFoundError with suggestions
    why = rnn_not_batch_first(model, unit.layer)
    if why:  # its first axis would be read as the batch, its second as positions
        raise NeuronscopeError(f"no receptive field for {unit.layer}: {why}")
    x = _input_tensor(resolve_example(model, example_input))
    if method == "analytic" and not x.is_floating_point():
        raise NeuronscopeError(
            f"no analytic receptive field for {unit.layer}: the input holds {x.dtype} token "
            "ids, not pixels. method='gradient' measures it from the embedding's output.")
    if method == "analytic" or (method == "auto" and x.is_floating_point()):
        try:
            with eval_mode(model):
                return analytic(model, unit, x[:1].clone())
        except NotAChain as why:
            if method == "analytic":
                raise NeuronscopeError(
                    f"no analytic receptive field for {unit.layer}: {why}. "
                    "method='gradient' measures it for any graph."
                ) from None
            logger.info("receptive_field(%s): %s; using the gradient footprint", unit.layer, why)
    with eval_mode(model):
        return gradient(model, unit, x, samples, seed)


def _input_tensor(example: Any) -> torch.Tensor:
    args, kwargs = forward_kwargs(example)
    if len(args) != 1 or kwargs or not isinstance(args[0], torch.Tensor) or args[0].dim() < 2:
        raise NeuronscopeError(
            "receptive_field needs a model that takes one batched input tensor "
            "(e.g. torch.zeros(1, 3, 64, 64)); got " + type(example).__name__
        )
    return args[0]


def _input_tensor(example: Any) -> torch.Tensor:
    args, kwargs = forward_kwargs(example)
    if len(args) != 1 or kwargs or not isinstance(args[0], torch.Tensor) or args[0].dim() < 2:
        raise NeuronscopeError(
            "receptive_field needs a model that takes one batched input tensor "
            "(e.g. torch.zeros(1, 3, 64, 64)); got " + type(example).__name__
        )
    return args[0]
