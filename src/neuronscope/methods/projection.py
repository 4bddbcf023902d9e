"""Which pixels of an input drive a unit: deconvnet (Zeiler & Fergus 2014) and guided
backprop (Springenberg et al. 2014), through Captum, for one unit's whole channel."""

from __future__ import annotations

import torch
from torch import nn

from neuronscope.core.errors import UnitOutOfRangeError
from neuronscope.core.hooks import record
from neuronscope.core.layers import eval_mode, layers
from neuronscope.core.units import Unit

METHODS = ("guided", "deconv")


class _Channel(nn.Module):
    """The model seen as: input -> the summed activation of every unit of one layer."""

    def __init__(self, model: nn.Module, layer: str, axis: int | None) -> None:
        super().__init__()
        self.model, self.layer, self.axis = model, layer, axis

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with record(self.model, [self.layer], detach=False) as rec:
            self.model(x)
        t = rec[self.layer]
        t = t.movedim(self.axis, 1) if self.axis is not None else t.reshape(t.shape[0], 1)
        return t.reshape(t.shape[0], t.shape[1], -1).sum(2)


def project(model: nn.Module, x: torch.Tensor, unit: str, method: str = "guided"
            ) -> torch.Tensor:
    """The projection of `unit` (``"conv3:17"``: its channel summed over positions) onto
    the input batch `x` [N, ...], same shape as `x`, for display (``0.5 + a / 2max|a|``).

    Example:
        >>> import torch, torch.nn as nn
        >>> model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
        >>> project(model, torch.rand(1, 3, 8, 8), "1:2").shape
        torch.Size([1, 3, 8, 8])
    """
    from captum.attr import Deconvolution, GuidedBackprop

    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    target = Unit.parse(unit)
    with eval_mode(model):
        info = {i.name: i for i in layers(model, x[:1])}.get(target.layer)
        if info is None:
            from neuronscope.core.units import find_module

            find_module(model, target.module_path)
            raise UnitOutOfRangeError(f"{target.layer} is not a tensor output of the model")
        if target.channel is None or not 0 <= target.channel < info.n_units:
            raise UnitOutOfRangeError(f"{unit}: {target.layer} has units 0-{info.n_units - 1}")
        algo = GuidedBackprop if method == "guided" else Deconvolution
        head = _Channel(model, target.layer, info.unit_axis)
        attr = algo(head).attribute(x.detach().clone().requires_grad_(True),
                                    target=target.channel).detach()
    top = attr.flatten(1).abs().amax(1).clamp_min(1e-12).view(-1, *[1] * (attr.dim() - 1))
    return (attr / top * 0.5 + 0.5).clamp(0, 1)
