"""The live probe (the DeepVis toolbox's main view): one image in, the activation maps of
the network's main layers out, fast enough to follow a camera.

The main layers are the conv, linear and block layers along the model's top level: a
flat ``nn.Sequential`` gives its convs and linears (shapes-cnn: conv1 ... fc6), a
network of blocks its blocks (efficientnet-lite0: stem, block0 ... block15, head, fc).
A plain container (``nn.Sequential``, ``nn.ModuleList``) holding more than one conv or
linear layer is looked inside; one holding a single conv (conv, norm, activation)
counts as one layer, so its maps are after the activation."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from torch import nn

from neuronscope.core.errors import NeuronscopeError
from neuronscope.core.layers import LayerInfo, eval_mode, layer_kind, layers
from neuronscope.core.model import model_device
from neuronscope.core.recording import record
from neuronscope.core.spec import InputSpec, input_spec

KINDS = ("conv", "linear")
logger = logging.getLogger(__name__)


class NotLiveModelError(NeuronscopeError, ValueError):
    """A model the live probe does not take (not an image or sound model); a server still serves
    it (a text model through the text probe, `neuronscope.methods.textprobe`)."""


@dataclass
class LayerMaps:
    """One layer's response to the image: ``maps`` [units, H, W] (1 x 1 for a layer
    without positions)."""

    name: str
    maps: torch.Tensor


@dataclass
class LiveFrame:
    """The response to one image: every layer's maps, and the top classes (name,
    probability) when the model is a classifier (else empty)."""

    maps: list[LayerMaps]
    top: list[tuple[str, float]]


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
        if spec is None or spec.kind not in ("image", "audio") or len(spec.shape) != 3:
            raise NotLiveModelError(_not_live(spec))
        self.model, self.spec, self.device = model, spec, model_device(model)
        with eval_mode(model):
            infos = {i.name: i for i in layers(model, spec.example(device=self.device))}
        names = [n for n in main_layers(model, kinds) if n in infos]
        self.layers: list[LayerInfo] = [infos[n] for n in names if infos[n].calls == 1]
        shared = [n for n in names if infos[n].calls > 1]
        if shared:
            logger.warning("live probe: leaving out %s (each runs several times per pass)",
                           ", ".join(shared))
        last = self.layers[-1] if self.layers else None
        n = spec.n_classes
        self.classifier = last if last and n and last.shape == (n,) else None

    def model_input(self, image: torch.Tensor) -> torch.Tensor:
        """A display-space image [C, H, W] with values in [0, 1] as a model-space batch of one."""
        lo, hi = self.spec.value_range
        return self.spec.to_model((lo + (hi - lo) * image).unsqueeze(0)).to(self.device)

    def maps(self, image: torch.Tensor) -> list[LayerMaps]:
        """Each layer's maps [units, H, W] for one image."""
        return self.frame(image).maps

    @torch.no_grad()
    def frame(self, image: torch.Tensor) -> LiveFrame:
        """Each layer's maps for one image and, for a classifier, its top-5 classes."""
        with eval_mode(self.model), record(self.model, [i.name for i in self.layers]) as rec:
            self.model(self.model_input(image))
        top = []
        if self.classifier is not None:
            p = rec[self.classifier.name][0].float().softmax(0)
            values, indices = p.topk(min(5, p.numel()))
            top = [(self.spec.class_names[i], v)
                   for v, i in zip(values.tolist(), indices.tolist(), strict=True)]
        out = []
        for info in self.layers:
            t = rec[info.name][0].float()
            if info.unit_axis is not None and t.dim() >= 2:
                t = t.movedim(info.unit_axis - 1, 0)
            t = t.reshape(t.shape[0], *(t.shape[1:3] if t.dim() >= 3 else (1, 1)))
            out.append(LayerMaps(info.name, t.cpu()))
        return LiveFrame(out, top)

def _convs(module: nn.Module) -> int:
    return sum(layer_kind(m) in ("conv", "linear") for m in module.modules())


def main_layers(model: nn.Module, kinds: tuple[str, ...] = KINDS) -> list[str]:
    """The names of the model's main layers (see the module docstring), in order.

    Example:
        >>> block = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
        >>> main_layers(nn.Sequential(block, nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2))))
        ['0', '1.0', '1.1']
    """
    out: list[str] = []

    def visit(module: nn.Module, prefix: str) -> None:
        for name, child in module.named_children():
            path = f"{prefix}{name}"
            plain = type(child) in (nn.Sequential, nn.ModuleList)
            if plain and _convs(child) > 1:
                visit(child, path + ".")
            elif layer_kind(child) in kinds or (layer_kind(child) == "block" and _convs(child)):
                out.append(path)

    visit(model, "")
    return out


def _not_live(spec: InputSpec | None) -> str:
    """Why the live probe cannot take a model of InputSpec `spec`, in words.

    Example:
        >>> _not_live(InputSpec(shape=(1, 8000), kind="audio")).split("; ")[1]
        'this model takes audio of shape [1, 8000] (a waveform, not a spectrogram)'
    """
    wanted = "the live probe takes images and spectrograms [C, H, W]"
    if spec is None:
        return f"{wanted}; this model carries no InputSpec that says what it takes"
    what = " (a waveform, not a spectrogram)" if spec.kind == "audio" else ""
    return f"{wanted}; this model takes {spec.kind} of shape {list(spec.shape)}{what}"
