"""Gathering what a picture of a unit's dataset examples needs: the inputs (in display
space), the activations, the position of each maximum, the receptive field, and for
sequences the unit's activation at every step. This runs the model where needed; how
each kind of input is drawn is `neuronscope.render.kinds`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from neuronscope.core.data import as_dataset, batch_labels, item_input, run_model, wrapped
from neuronscope.core.errors import NeuronscopeError
from neuronscope.core.hooks import StopPass, tap
from neuronscope.core.layers import eval_mode
from neuronscope.core.model import model_device
from neuronscope.core.receptive import ReceptiveField, receptive_field
from neuronscope.core.spec import InputSpec, input_spec

from .result import LayerExamples
from .steps import Along, along, input_step, usable


@dataclass
class Shown:
    """A unit's top (or bottom) dataset examples, ready to be drawn.

    ``inputs[i]`` is example i without a batch axis, in display space (token ids for
    text); ``positions[i]`` the position of its maximum (empty for layers without
    positions); ``field`` the layer's receptive field (when asked for and known);
    ``traces`` [k, T] the unit's activation at every input step (when asked for; a map's
    mean over its other axes, a spectrogram network's over the bands);
    ``sources[i]`` what the dataset keeps of example i beside its input (a sound's
    waveform: `item_sources`), when asked for and the data have it; ``peaks[i]`` (with
    traces, for a layer of one position axis) the input step of example i's recorded
    maximum: -1 where there is none to show (none recorded, or a layer of one position),
    None where it falls past the input's end.
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
    sources: list[Any] | None = None
    peaks: list[int | None] | None = None


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


def item_sources(data: Any, indices: list[int], method: str) -> list[Any] | None:
    """What the dataset's own `method` (e.g. ``"waveform"``) gives for each item at
    `indices`, looked up through wrappers (``.dataset``; a ``Subset`` maps the indices);
    None when no dataset in the chain has it.

    Example:
        >>> from torch.utils.data import Subset
        >>> class Sounds(list):
        ...     def waveform(self, i):
        ...         return f"wave {i}"
        >>> item_sources(Subset(Sounds([0, 1, 2]), [2, 0]), [0, 1], "waveform")
        ['wave 2', 'wave 0']
    """
    for layer in wrapped(data):
        if callable(getattr(layer, method, None)):
            return [getattr(layer, method)(i) for i in indices]
        subset = getattr(layer, "indices", None)
        if subset is not None and hasattr(layer, "dataset"):
            indices = [int(subset[i]) for i in indices]
    return None


def item_titles(data: Any, indices: list[int], class_names: list[str] | None = None
                ) -> list[str]:
    """A few words naming each item at `indices`: the dataset's own name for it (its
    ``item_name(i)``, e.g. a file's path, through wrappers) else "item i", and its class
    where the item has one: named by the data's own ``classes`` (through wrappers), else
    by `class_names` (the model's).

    Example:
        >>> item_titles([(torch.zeros(2), 1), (torch.zeros(2), 0)], [1, 0], ["cat", "dog"])
        ['item 1 (cat)', 'item 0 (dog)']
    """
    names = item_sources(data, indices, "item_name") or [f"item {i}" for i in indices]
    classes = next((d.classes for d in wrapped(data)
                    if getattr(d, "classes", None) is not None), None) or class_names
    dataset, out = as_dataset(data), []
    for i, name in zip(indices, names, strict=True):
        try:
            label = batch_labels(dataset[i])
        except Exception:  # noqa: BLE001 - unlabelled items: the name alone
            label = None
        if label is not None and label.dim() == 0 and not label.is_floating_point():
            c = int(label)
            name = f"{name} ({classes[c] if classes and 0 <= c < len(classes) else f'class {c}'})"
        out.append(str(name))
    return out


def field_of(model: nn.Module, ex: LayerExamples, data: Any) -> ReceptiveField:
    """The receptive field of the layer's units, measured on the dataset's first input."""
    x = item_input(as_dataset(data), 0).unsqueeze(0).to(model_device(model))
    return receptive_field(model, ex.layer, x)


def time_field(model: nn.Module, ex: LayerExamples, data: Any, steps: int,
               known: ReceptiveField | None = None) -> ReceptiveField | None:
    """The receptive field that lays `ex`'s layer along its input's last axis (`known`
    when already measured), where the layer has fewer positions there than the input's
    `steps`; None where it has as many or more, or no field can be measured.

    Example:
        >>> import torch, torch.nn as nn, neuronscope as ns
        >>> model = nn.Sequential(nn.Conv1d(1, 2, 3, stride=2, padding=1))
        >>> x = torch.rand(4, 1, 15)
        >>> ex = ns.top_examples(model, x, k=2, progress=False)["0"]
        >>> time_field(model, ex, x, 15).stride, time_field(model, ex, x, 8)
        ((2,), None)
    """
    shape = ex.spatial_shape
    if not shape or shape[-1] >= steps:
        return None
    try:
        field = known if known is not None else field_of(model, ex, data)
    except NeuronscopeError:
        return None
    return field if usable(field, shape[-1], steps) else None


def unit_examples(model: nn.Module, data: Any, ex: LayerExamples, unit: int, *,
                  bottom: bool = False, field: ReceptiveField | None = None,
                  traces: bool | Callable[[list[int]], torch.Tensor] = False,
                  sources: str | None = None, how: Along | None = None) -> Shown:
    """The top (or bottom) examples of `unit` with what drawing them needs (`sources`: the
    name of the dataset's method that gives what it keeps beside each input; `how`: how
    traces are laid along the input, `neuronscope.methods.examples.steps`).

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
    if traces and chosen:  # computed here, or looked up (`traces(indices)` -> [k, T])
        shown.traces = (traces(chosen) if callable(traces)
                        else unit_traces(model, data, ex, unit, chosen, how))
        if len(ex.spatial_shape) == 1:  # a sequence: where each peak falls in the input
            steps = shown.inputs[0].shape[-1]  # display space keeps the steps
            shown.peaks = [input_step(c[0], ex.spatial_shape[0], steps, how and how.field)
                           if c and c[0] >= 0 else -1 for c in shown.positions]
    if sources and chosen:
        shown.sources = item_sources(data, chosen, sources)
    return shown


def unit_traces(model: nn.Module, data: Any, ex: LayerExamples, unit: int,
                indices: list[int], how: Along | None = None) -> torch.Tensor:
    """The unit's activation at every step of each input at `indices`: [k, T].

    A layer with one value per input repeats it at every step; one with other positions
    than the input's steps is laid along them (`neuronscope.methods.examples.steps`).
    """
    return traces_table(model, data, ex, [unit], indices, how=how)[:, 0]


def traces_table(model: nn.Module, data: Any, ex: LayerExamples, units: list[int],
                 indices: list[int], batch_size: int = 64,
                 how: Along | None = None) -> torch.Tensor:
    """Every unit of `units` at every step of each input at `indices`: [k, units, T], in
    batches of `batch_size` inputs (one pass serves a whole part of a layer); a layer with
    other positions than the input's steps laid along them as `how` says (by its
    receptive field; at most ``how.width`` columns: `neuronscope.methods.examples.steps`).

    Example:
        >>> import torch, torch.nn as nn, neuronscope as ns
        >>> model = nn.Sequential(nn.Embedding(5, 3))
        >>> x = torch.randint(0, 5, (6, 4))
        >>> ex = ns.top_examples(model, x, layers="0", k=2, progress=False)["0"]
        >>> traces_table(model, x, ex, [0, 2], [1, 3]).shape
        torch.Size([2, 2, 4])
    """
    dataset, out = as_dataset(data), []

    def take(name: str, t: torch.Tensor) -> None:  # the layer is out: the rest need not run
        out.append(_steps(t, ex, units, steps, how))
        raise StopPass

    with eval_mode(model), torch.no_grad(), tap(model, [ex.layer], take):
        for first in range(0, len(indices), batch_size):
            x = torch.stack([item_input(dataset, i) for i in indices[first:first + batch_size]])
            steps = x.shape[-1]
            try:
                run_model(model, x.to(model_device(model)))
            except StopPass:
                pass
    return torch.cat(out) if out else torch.zeros(0, len(units), 0)


def _steps(act: torch.Tensor, ex: LayerExamples, units: list[int], steps: int,
           how: Along | None = None) -> torch.Tensor:
    """A recorded layer [k, ...] as [k, units, steps] (or ``how.width``): a map over more
    than one axis ([k, units, bands, frames] of a spectrogram network) averaged over all
    but its last (time), then laid along the input's steps (`steps.along`)."""
    k = act.shape[0]
    if ex.unit_axis is None or act.dim() < 3:  # one value per input: the same at every step
        flat = act.reshape(k, -1)
        value = flat[:, units] if ex.unit_axis is not None else flat[:, :1].expand(-1,
                                                                                   len(units))
        width = min(steps, how.width) if how and how.width else steps
        return value.unsqueeze(2).expand(-1, -1, width).float().cpu().clone()
    trace = act.index_select(ex.unit_axis, torch.tensor(units, device=act.device))
    trace = trace.movedim(ex.unit_axis, 1).float()  # [k, units, ..., T']
    if trace.dim() > 3:  # a map: its mean over the other axes (a spectrogram's bands)
        trace = trace.flatten(2, -2).mean(2)
    return along(trace.cpu(), steps, how).clone()
