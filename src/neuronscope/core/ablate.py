"""Silencing units during forward passes: `ablate`.

What ``value="mean"`` means, here and in every method: the unit's mean activation
over the inputs the call is given, and over positions for a whole channel. `ablate`
is given only the batch running through the model, so its "mean" is that batch's
mean; `ablation_study` and `unit_sweep` are given a dataset, so theirs is the mean
over the whole dataset (`neuronscope.core.stats.unit_stats`). To silence units with
their dataset mean inside `ablate`, pass those means:
``ablate(model, "conv3", value=unit_stats(model, data, "conv3")[0])``. An ablation
applies to every call of a module that runs several times in one pass.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from .hooks import Edit, UnitAxis, as_units, installed
from .units import Unit, check_unit, unit_index

logger = logging.getLogger(__name__)


def _fill_values(value: Any, units: list[Unit]) -> list[Any]:
    """One fill per address: a number, "mean", or a tensor of one number per unit of a layer."""
    n = len(units)
    if isinstance(value, str):
        if value != "mean":
            raise ValueError(f"value must be a number, 'mean' or one number per unit: {value!r}")
        return ["mean"] * n
    if isinstance(value, (int, float)) or getattr(value, "ndim", None) == 0:  # numpy, 0-d tensor
        return [float(value)] * n
    values = [float(v) for v in (value.tolist() if isinstance(value, torch.Tensor) else value)]
    if n == 1 and units[0].is_layer and len(values) != 1:  # one number per unit of the layer
        return [torch.tensor(values)]
    if len(values) != n:
        raise ValueError(f"value gives {len(values)} numbers for {n} units")
    return values


def _layer_fill(t: torch.Tensor, unit: Unit, fill: torch.Tensor, axis: int | None
                ) -> torch.Tensor:
    """One number per unit of a layer, shaped to fill its whole output."""
    n = t.shape[axis] if axis is not None else 1
    if len(fill) != n:
        raise ValueError(f"value gives {len(fill)} numbers but layer {unit.layer} has {n} units")
    shape = [1] * t.dim()
    if axis is not None:
        shape[axis] = n
    return fill.to(t).view(shape).expand_as(t)


def _mean_fill(t: torch.Tensor, unit: Unit, index: tuple[Any, ...], axis: int | None
               ) -> torch.Tensor:
    """The batch mean of what `index` selects: per unit for a layer, one number for a unit."""
    if t.shape[0] == 1 and t[index].numel() == 1:
        logger.warning("ablating %s with value='mean' on a batch of one example changes nothing"
                       " (the mean is the value itself); pass dataset means instead", unit)
    if unit.channel is None and axis is not None:
        dims = [d for d in range(t.dim()) if d != axis]
        return t.mean(dim=dims, keepdim=True)
    return t[index].mean()


@contextmanager
def ablate(model: nn.Module, units: Any, value: float | str | Sequence[float] = 0.0
           ) -> Iterator[None]:
    """Silence units during forward passes: their output is replaced by `value`.

    `value` is a number, ``"mean"`` (the unit's mean over the current batch, and over
    positions for a whole channel; see the module docstring), one number per address,
    or for one layer address one number per unit of the layer (e.g. dataset means from
    `unit_stats`). A layer address silences every unit of the layer.

    Example:
        >>> import torch, torch.nn as nn
        >>> model = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
        >>> with ablate(model, ["0:1"], value=0.0):
        ...     y = model(torch.ones(2, 4))
        >>> bool((y[:, 1] == 0).all())
        True
    """
    unit_list = as_units(units)
    fills = _fill_values(value, unit_list)
    groups: dict[str, list[tuple[Unit, Any]]] = {}
    for unit, fill in zip(unit_list, fills, strict=True):
        groups.setdefault(unit.layer, []).append((unit, fill))

    def make(members: list[tuple[Unit, Any]]) -> Edit:
        axis_of = UnitAxis(model, members[0][0].layer)

        def edit(t: torch.Tensor, call: int) -> torch.Tensor:
            axis = axis_of(t.dim())
            out = t.clone()
            for unit, fill in members:
                check_unit(unit, tuple(t.shape), axis)
                index = unit_index(unit, t.dim(), axis)
                if isinstance(fill, torch.Tensor):
                    out[index] = _layer_fill(t, unit, fill, axis)[index]
                elif fill == "mean":
                    out[index] = _mean_fill(t, unit, index, axis)
                else:
                    out[index] = fill
            return out

        return edit

    edits = [(members[0][0], make(members)) for members in groups.values()]
    _warn_recurrent(model, [u.module_path for u, _ in edits])
    with installed(model, [(Unit(u.layer), fn) for u, fn in edits]):
        yield


def _warn_recurrent(model: nn.Module, paths: list[str]) -> None:
    """Say that silencing the output of torch's own RNN, GRU or LSTM does not reach its
    recurrence (the kernel steps on its own values): later steps and its final state are
    as if nothing were silenced."""
    for path in paths:
        module = model.get_submodule(path) if path else model
        if isinstance(module, nn.RNNBase):
            logger.warning(
                "ablating the output of %s (%s) changes what the layers after it see, not "
                "its recurrence: its later steps and final state run on the unsilenced "
                "values (a cell held inside the recurrence needs a model that steps in "
                "Python, as the zoo's CellLSTM does)", path, type(module).__name__)
