"""The live probe (the DeepVis toolbox's main view): one image in, the activation maps of
every conv and linear layer out, fast enough to follow a camera."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from torch import nn

from neuronscope.core.errors import NeuronscopeError
from neuronscope.core.layers import LayerInfo, eval_mode, layers
from neuronscope.core.model import model_device
from neuronscope.core.recording import record
from neuronscope.core.spec import input_spec

KINDS = ("conv", "linear")
logger = logging.getLogger(__name__)


@dataclass
class LayerMaps:
    """One layer's response to the image: ``maps`` [units, H, W] (1 x 1 for a layer
    without positions)."""

    name: str
    maps: torch.Tensor


class LiveProbe:
    """Every conv and linear layer's maps for one display-space image [C, H, W].

    Example:
        >>> import torch, torch.nn as nn
        >>> from neuronscope.core.spec import InputSpec, attach_spec
        >>> model = attach_spec(nn.Sequential(nn.Conv2d(3, 2, 3), nn.ReLU()),
        ...                     InputSpec(shape=(3, 8, 8)))
        >>> [(m.name, tuple(m.maps.shape)) for m in LiveProbe(model).maps(torch.rand(3, 8, 8))]
        [('0', (2, 6, 6))]
    """

    def __init__(self, model: nn.Module, kinds: tuple[str, ...] = KINDS) -> None:
        spec = input_spec(model)
        if spec is None or spec.kind != "image" or len(spec.shape) != 3:
            raise NeuronscopeError("the live probe needs an image model with an InputSpec "
                                   "(shape C, H, W)")
        self.model, self.spec, self.device = model, spec, model_device(model)
        with eval_mode(model):
            infos = layers(model, spec.example(device=self.device))
        self.layers: list[LayerInfo] = [i for i in infos if i.kind in kinds and i.calls == 1]
        shared = [i.name for i in infos if i.kind in kinds and i.calls > 1]
        if shared:
            logger.warning("live probe: leaving out %s (each runs several times per pass)",
                           ", ".join(shared))

    def model_input(self, image: torch.Tensor) -> torch.Tensor:
        """A display-space image [C, H, W] with values in [0, 1] as a model-space batch of one."""
        lo, hi = self.spec.value_range
        return self.spec.to_model((lo + (hi - lo) * image).unsqueeze(0)).to(self.device)

    @torch.no_grad()
    def maps(self, image: torch.Tensor) -> list[LayerMaps]:
        """Each layer's maps [units, H, W] for one image."""
        with eval_mode(self.model), record(self.model, [i.name for i in self.layers]) as rec:
            self.model(self.model_input(image))
        out = []
        for info in self.layers:
            t = rec[info.name][0].float()
            if info.unit_axis is not None and t.dim() >= 2:
                t = t.movedim(info.unit_axis - 1, 0)
            t = t.reshape(t.shape[0], *(t.shape[1:3] if t.dim() >= 3 else (1, 1)))
            out.append(LayerMaps(info.name, t.cpu()))
        return out
