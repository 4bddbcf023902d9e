"""What a unit's dataset examples look like: image crops around its receptive field,
and per-step activations over text. These run the model where needed; the drawing
itself is in `neuronscope.render.examples`."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from neuronscope.core.hooks import record
from neuronscope.core.layers import eval_mode
from neuronscope.core.receptive import ReceptiveField, receptive_field
from neuronscope.core.spec import input_spec

from .mine import as_dataset, batch_input
from .result import LayerExamples


def _item(dataset: Any, i: int) -> torch.Tensor:
    x = batch_input(dataset[i])
    return x if isinstance(x, torch.Tensor) else torch.as_tensor(x)


def field_of(model: nn.Module, ex: LayerExamples, dataset: Any) -> ReceptiveField:
    """The receptive field of the layer's units, measured on the dataset's first input."""
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    x = _item(as_dataset(dataset), 0).unsqueeze(0).to(device)
    return receptive_field(model, ex.layer, x)


def unit_crops(model: nn.Module, data: Any, ex: LayerExamples, unit: int,
               bottom: bool = False, rf: ReceptiveField | None = None,
               min_size: int = 24, context: int = 16
               ) -> tuple[torch.Tensor, list[float], tuple[int, int, int, int] | None]:
    """Crops [k, C, S, S] of a unit's top (or bottom) examples around the receptive field
    at the position of the maximum, in display space; the activations; and where the
    field lies in each crop (top, left, bottom, right), or None for whole images.

    A field smaller than `context` pixels is shown with context around it (the crop
    is `context` wide, the field in its middle); parts outside the image are mid-gray.
    Crops are resized to at least `min_size` pixels so that they tile into one grid.
    A layer without positions (or a global field) shows whole images.

    Example:
        >>> import torch, torch.nn as nn, neuronscope as ns
        >>> model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())
        >>> x = torch.rand(10, 1, 8, 8)
        >>> ex = ns.top_examples(model, x, k=4, progress=False)["0"]
        >>> crops, values, box = unit_crops(model, x, ex, unit=1)
        >>> crops.shape, len(values), box
        (torch.Size([4, 1, 24, 24]), 4, (9, 9, 14, 14))
    """
    dataset = as_dataset(data)
    spec = input_spec(model)
    index = (ex.bottom_indices if bottom else ex.indices)[unit]
    values = (ex.bottom_values if bottom else ex.values)[unit]
    coords = (ex.bottom_positions if bottom else ex.positions)[unit]
    keep = index >= 0
    if ex.spatial_shape and rf is None:
        rf = field_of(model, ex, dataset)
    crops, box = [], None
    for i, pos in zip(index[keep].tolist(), coords[keep].tolist(), strict=True):
        image = _item(dataset, i).float()
        if image.dim() != 3:
            raise ValueError(f"crops need image inputs [C, H, W]; item {i} has shape "
                             f"{tuple(image.shape)}")
        if spec is not None:
            image = spec.to_display(image.unsqueeze(0))[0]
        if rf is not None and not rf.is_global and len(pos) == 2 and min(pos) >= 0:
            top, left, bottom_, right = rf.box(*pos)
            grow = [max(0, context - (bottom_ - top)), max(0, context - (right - left))]
            image = _crop(image, (top - grow[0] // 2, left - grow[1] // 2,
                                  bottom_ + grow[0] - grow[0] // 2, right + grow[1] - grow[1] // 2))
            box = (grow[0] // 2, grow[1] // 2, grow[0] // 2 + bottom_ - top,
                   grow[1] // 2 + right - left)
        crops.append(image)
    if not crops:
        return torch.zeros(0), [], None
    side = max(c.shape[-1] for c in crops)
    size = max(min_size, side)
    if box is not None:
        box = tuple(round(b * size / side) for b in box)  # type: ignore[assignment]
    crops = [F.interpolate(c.unsqueeze(0), size=(size, size), mode="nearest")[0] for c in crops]
    return torch.stack(crops), values[keep].tolist(), box


def _crop(image: torch.Tensor, box: tuple[int, ...]) -> torch.Tensor:
    """image [C, H, W] cut to box (top, left, bottom, right), padded with gray outside."""
    top, left, bottom, right = box
    h, w = image.shape[-2:]
    out = torch.full((image.shape[0], bottom - top, right - left), 0.5)
    t0, l0 = max(top, 0), max(left, 0)
    t1, l1 = min(bottom, h), min(right, w)
    if t1 > t0 and l1 > l0:
        out[:, t0 - top:t1 - top, l0 - left:l1 - left] = image[:, t0:t1, l0:l1]
    return out


def unit_traces(model: nn.Module, data: Any, ex: LayerExamples, unit: int,
                bottom: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """A sequence unit over its top (or bottom) examples: (inputs [k, T], activations [k, T]).

    For text models: the token ids of each example and the unit's activation at every
    step, for shading each character by how much it drives the unit. A layer with one
    value per input repeats it at every step; one with fewer steps than the input is
    centred, zeros around.
    """
    dataset = as_dataset(data)
    index = (ex.bottom_indices if bottom else ex.indices)[unit]
    index = index[index >= 0].tolist()
    x = torch.stack([_item(dataset, i) for i in index])
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    with eval_mode(model), torch.no_grad(), record(model, [ex.layer]) as rec:
        model(x.to(device))
    act = rec[ex.layer]
    if ex.unit_axis is None or act.dim() != 3:  # one value per input: the same at every step
        value = act.reshape(len(index), -1)[:, unit if ex.unit_axis is not None else 0]
        return x, value.view(-1, 1).expand(-1, x.shape[-1]).cpu()
    trace = act.select(ex.unit_axis, unit).cpu()
    missing = x.shape[-1] - trace.shape[-1]
    if missing > 0:  # a layer with fewer steps (unpadded convolution): centre it, zeros around
        trace = F.pad(trace, [missing // 2, missing - missing // 2])
    return x, trace[:, : x.shape[-1]]
