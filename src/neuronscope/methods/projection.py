"""Which pixels of an input drive a unit: deconvnet (Zeiler & Fergus 2014) and guided
backprop (Springenberg et al. 2014), through Captum, for one unit's whole channel."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch import nn

from neuronscope.core.errors import AddressError
from neuronscope.core.layers import eval_mode, resolve_layer
from neuronscope.core.recording import record
from neuronscope.core.result import Result
from neuronscope.core.units import Unit, per_unit

METHODS = ("guided", "deconv")


@dataclass
class Projection(Result):
    """The projection of `unit` onto a batch of inputs: ``attribution`` has the inputs'
    shape and sign (raw, not scaled); `show` draws it with gray at zero.

    Example:
        >>> import torch, torch.nn as nn
        >>> model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
        >>> p = project(model, torch.rand(1, 3, 8, 8), "1:2")
        >>> p.attribution.shape, p.method
        (torch.Size([1, 3, 8, 8]), 'guided')
    """

    FORMAT = "neuronscope.projection"

    unit: str
    method: str
    attribution: torch.Tensor

    def show(self):  # noqa: ANN201 - a PIL image; render is imported only when drawing
        """The projections side by side, gray at zero, each scaled to its largest value."""
        from neuronscope.render.grid import image_grid

        return image_grid(self.attribution, nrow=len(self.attribution), normalize="symmetric")


class _Channel(nn.Module):
    """The model seen as: input -> the summed activation of every unit of one layer."""

    def __init__(self, model: nn.Module, layer: str, axis: int | None) -> None:
        super().__init__()
        self.model, self.layer, self.axis = model, layer, axis

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with record(self.model, [self.layer], detach=False) as rec:
            self.model(x)
        return per_unit(rec[self.layer], self.axis).sum(2)


def project(model: nn.Module, x: torch.Tensor, unit: str, *, method: str = "guided"
            ) -> Projection:
    """The projection of `unit` (``"conv3:17"``: its channel summed over positions) onto
    the input batch `x` [N, ...]: how much each input value drives it, by guided
    backprop (``"guided"``) or the deconvnet (``"deconv"``).
    """
    from captum.attr import Deconvolution, GuidedBackprop

    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    target = Unit.parse(unit)
    with eval_mode(model):
        info = resolve_layer(model, target, x[:1])
        if target.channel is None:
            raise AddressError(f"{unit} names a layer; project takes one unit, such as "
                               f"{target.layer}:0 (units 0-{info.n_units - 1})")
        algo = GuidedBackprop if method == "guided" else Deconvolution
        head = _Channel(model, target.layer, info.unit_axis)
        with warnings.catch_warnings():  # Captum says it sets ReLU hooks: it removes them
            warnings.filterwarnings("ignore", message="Setting backward hooks on ReLU")
            attr = algo(head).attribute(x.detach().clone().requires_grad_(True),
                                        target=target.channel).detach()
    return Projection(str(target), method, attr)
