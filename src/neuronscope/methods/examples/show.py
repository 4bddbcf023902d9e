"""Gathering what a picture of a unit's dataset examples needs: the inputs (in display
space), the activations, the position of each maximum, the receptive field, and for
sequences the unit's activation at every step. This runs the model where needed; how
each kind of input is drawn is `neuronscope.render.kinds`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from neuronscope.core.data import as_dataset, item_input
from neuronscope.core.layers import eval_mode
from neuronscope.core.model import model_device
from neuronscope.core.receptive import ReceptiveField, receptive_field
from neuronscope.core.recording import record
from neuronscope.core.spec import InputSpec, input_spec

from .result import LayerExamples


@dataclass
class Shown:
    """A unit's top (or bottom) dataset examples, ready to be drawn.

    ``inputs[i]`` is example i without a batch axis, in display space (token ids for
    text); ``positions[i]`` the position of its maximum (empty for layers without
    positions); ``field`` the layer's receptive field (when asked for and known);
    ``traces`` [k, T] the unit's activation at every input step (when asked for).
    """

    layer: str
    unit: int
    bottom: bool
    indices: list[int]
    values: list[float]
    inputs: list[torch.Tensor]
    positions: list[tuple[int, ...]]
    spec: InputSpec | None = None
    field: ReceptiveField | None = None
    traces: torch.Tensor | None = None


def spec_of(model: nn.Module, data: Any) -> InputSpec | None:
    """The input description of the model, else of the dataset (``data.spec``), else None."""
    spec = input_spec(model)
    if spec is None and isinstance(getattr(data, "spec", None), InputSpec):
        spec = data.spec
    return spec


def display_inputs(model: nn.Module, data: Any, indices: list[int]) -> list[torch.Tensor]:
    """The inputs at `indices` in display space (the model's normalization undone)."""
    dataset, spec = as_dataset(data), spec_of(model, data)
    out = []
    for i in indices:
        x = item_input(dataset, i)
        if spec is not None and spec.mean is not None and x.is_floating_point():
            x = spec.to_display(x.float().unsqueeze(0))[0]
        out.append(x)
    return out


def field_of(model: nn.Module, ex: LayerExamples, data: Any) -> ReceptiveField:
    """The receptive field of the layer's units, measured on the dataset's first input."""
    x = item_input(as_dataset(data), 0).unsqueeze(0).to(model_device(model))
    return receptive_field(model, ex.layer, x)


def unit_examples(model: nn.Module, data: Any, ex: LayerExamples, unit: int, *,
                  bottom: bool = False, field: ReceptiveField | None = None,
                  traces: bool = False) -> Shown:
    """The top (or bottom) examples of `unit` with what drawing them needs.

    Example:
        >>> import torch, torch.nn as nn, neuronscope as ns
        >>> model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())
        >>> x = torch.rand(10, 1, 8, 8)
        >>> ex = ns.top_examples(model, x, k=4, progress=False)["0"]
        >>> shown = unit_examples(model, x, ex, 1)
        >>> len(shown.inputs), shown.inputs[0].shape, len(shown.positions[0])
        (4, torch.Size([1, 8, 8]), 2)
    """
    index = (ex.bottom_indices if bottom else ex.indices)[unit]
    keep = index >= 0
    values = (ex.bottom_values if bottom else ex.values)[unit][keep].tolist()
    coords = (ex.bottom_positions if bottom else ex.positions)[unit][keep].tolist()
    chosen = index[keep].tolist()
    shown = Shown(ex.layer, unit, bottom, chosen, values, display_inputs(model, data, chosen),
                  [tuple(c) for c in coords], spec_of(model, data), field)
    if traces and chosen:
        shown.traces = unit_traces(model, data, ex, unit, chosen)
    return shown


def unit_traces(model: nn.Module, data: Any, ex: LayerExamples, unit: int,
                indices: list[int]) -> torch.Tensor:
    """The unit's activation at every step of each input at `indices`: [k, T].

    A layer with one value per input repeats it at every step; one with fewer steps
    than the input is centred, zeros around.
    """
    dataset = as_dataset(data)
    x = torch.stack([item_input(dataset, i) for i in indices])
    with eval_mode(model), torch.no_grad(), record(model, [ex.layer]) as rec:
        model(x.to(model_device(model)))
    act = rec[ex.layer]
    steps = x.shape[-1]
    if ex.unit_axis is None or act.dim() != 3:  # one value per input: the same at every step
        value = act.reshape(len(indices), -1)[:, unit if ex.unit_axis is not None else 0]
        return value.view(-1, 1).expand(-1, steps).cpu()
    trace = act.select(ex.unit_axis, unit).cpu()
    missing = steps - trace.shape[-1]
    if missing > 0:  # a layer with fewer steps (unpadded convolution): centre it, zeros around
        trace = F.pad(trace, [missing // 2, missing - missing // 2])
    return trace[:, :steps]
