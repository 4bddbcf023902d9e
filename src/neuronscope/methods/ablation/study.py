"""Lesion studies (Morcos et al. 2018): silence units one by one and in growing groups.

`ablation_study` measures a metric (accuracy, loss or your own) on a labelled dataset
with many variants of one layer: every unit silenced alone, a growing fraction
silenced in random order (several repeats), by importance and by selectivity, and
Gaussian noise of growing size scaled to each unit's spread. All variants of a batch
go through the upper part of the network together (`core.split.LayerSplit`): the
layer's input is computed once per batch, not once per variant.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from neuronscope.core.data import as_dataset
from neuronscope.core.errors import UnitOutOfRangeError
from neuronscope.core.layers import eval_mode
from neuronscope.core.result import Result
from neuronscope.core.stats import spearman

from .sweep import Metric, Sweep, keep_first

logger = logging.getLogger(__name__)


@dataclass
class AblationStudy(Result):
    """What silencing units of `layer` does to `metric`.

    ``importance[u]``: how much worse the metric gets when unit u alone is silenced
    (accuracy: baseline minus ablated; loss: ablated minus baseline). ``curves``: the
    metric when the first ``fractions[i]`` of the units are silenced, in random order
    (``"random"`` [repeats, F]), most important first (``"importance"`` [F]) and most
    selective first (``"selectivity"`` [F], when selectivity was given).
    ``noise``: the metric with Gaussian noise of ``noise_scales[i]`` times each unit's
    standard deviation added to the layer.
    """

    FORMAT = "neuronscope.ablation_study"

    layer: str
    metric: str
    baseline: float
    single: torch.Tensor
    importance: torch.Tensor
    fractions: torch.Tensor
    curves: dict[str, torch.Tensor]
    noise_scales: torch.Tensor
    noise: torch.Tensor
    info: dict[str, Any] = field(default_factory=dict)

    def area(self, curve: str = "random") -> float:
        """Area under a cumulative ablation curve (mean over repeats), fractions 0 to 1."""
        y = self.curves[curve]
        y = y.mean(0) if y.dim() == 2 else y
        return float(torch.trapezoid(y.double(), self.fractions.double()))


@dataclass
class UnitSweep(Result):
    """The metric with nothing silenced (``baseline``) and with each unit of `layer`
    silenced alone (``ablated`` [U]). Unpacks as ``baseline, ablated = unit_sweep(...)``."""

    FORMAT = "neuronscope.unit_sweep"

    layer: str
    metric: str
    baseline: float
    ablated: torch.Tensor
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def importance(self) -> torch.Tensor:
        """How much worse the metric gets when each unit alone is silenced."""
        if self.metric == "loss":
            return self.ablated - self.baseline
        return self.baseline - self.ablated

    def __iter__(self) -> Iterator[Any]:
        return iter((self.baseline, self.ablated))

    def __getitem__(self, i: int) -> Any:  # as the (baseline, ablated) pair of earlier versions
        return (self.baseline, self.ablated)[i]

    def __len__(self) -> int:
        return 2


def ablation_study(model: nn.Module, data: Any, layer: str, *, metric: str | Metric = "accuracy",
                   value: Any = 0.0, selectivity: Any = None, fractions: int = 11,
                   repeats: int = 5, noise_scales: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0, 2.0,
                                                                        4.0),
                   batch_size: int = 256, chunk: int = 64, seed: int = 0,
                   progress: bool = True, **renamed: Any) -> AblationStudy:
    """Silence units of `layer` singly and cumulatively and measure `metric` on `data`.

    `data` is a labelled dataset (items ``(input, label)``). `value` replaces a
    silenced unit: a number, ``"mean"`` (its mean over the whole dataset and its
    positions; see `neuronscope.core.stats.unit_stats`) or one number per unit.
    `fractions` evenly spaced fractions from 0 to 1 make the cumulative curves
    (``steps=``, its name in earlier versions, still works with a warning), `repeats`
    random orders.
    `selectivity` (a `ClassSelectivity` or a tensor [U]) adds the curve of the most
    selective units first. `chunk` variants go through the upper network at once.

    Example:
        >>> import torch, torch.nn as nn
        >>> from torch.utils.data import TensorDataset
        >>> model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3)).eval()
        >>> data = TensorDataset(torch.randn(30, 4), torch.randint(0, 3, (30,)))
        >>> study = ablation_study(model, data, "1", progress=False)
        >>> study.importance.shape, study.curves["random"].shape
        (torch.Size([6]), torch.Size([5, 11]))
    """
    fractions = _renamed(renamed, fractions)
    if repeats < 1 or fractions < 2:
        raise ValueError(f"repeats must be at least 1 and fractions at least 2 (0 and 1), got "
                         f"repeats={repeats}, fractions={fractions}")
    dataset = as_dataset(data)
    sel = getattr(selectivity, "selectivity", selectivity)
    with eval_mode(model):
        sweep = Sweep(model, dataset, layer, metric, value, batch_size, chunk, seed, progress)
        u, fracs = sweep.info.n_units, torch.linspace(0, 1, fractions)
        counts = [round(float(f) * u) for f in fracs]
        g = torch.Generator().manual_seed(seed)
        orders = [torch.randperm(u, generator=g) for _ in range(repeats)]
        if sel is not None:
            orders.append(torch.argsort(sel.float(), descending=True, stable=True))
        keep = [torch.ones(u)] + [1 - torch.eye(u)[i] for i in range(u)]
        keep += [keep_first(order, c, u) for order in orders for c in counts]
        scales = [0.0] * len(keep) + list(noise_scales)
        keep += [torch.ones(u)] * len(noise_scales)
        values = sweep.evaluate(torch.stack(keep), torch.tensor(scales))
        base, single = float(values[0]), values[1:u + 1]
        importance = single - base if metric == "loss" else base - single
        order = torch.argsort(importance, descending=True, stable=True)
        by_importance = sweep.evaluate(torch.stack([keep_first(order, c, u) for c in counts]),
                                       torch.zeros(len(counts)))
    at = u + 1 + repeats * fractions
    curves = {"random": values[u + 1:at].view(repeats, fractions), "importance": by_importance}
    if sel is not None:
        curves["selectivity"] = values[at:at + fractions]
        at += fractions
    info: dict[str, Any] = {"value": _plain(value), "fast": sweep.split.fast,
                            "why_slow": sweep.split.why, "n": len(dataset), "repeats": repeats,
                            "seed": seed}
    if sel is not None:
        info["selectivity_importance_spearman"] = spearman(sel.float(), importance)
    return AblationStudy(sweep.info.name, metric if isinstance(metric, str) else "custom", base,
                         single, importance, fracs, curves,
                         torch.tensor(noise_scales, dtype=torch.float32), values[at:], info)


def unit_sweep(model: nn.Module, data: Any, layer: str, *, metric: str | Metric = "accuracy",
               value: Any = 0.0, batch_size: int = 256, chunk: int = 64,
               units: Sequence[int] | None = None, progress: bool = True) -> UnitSweep:
    """The metric with nothing silenced and with each unit of `layer` silenced alone: the
    single-unit part of `ablation_study`, on its own. `value` is what a silenced unit
    outputs, as in `ablation_study`. `units` (default: all) sweeps only those units
    (``ablated`` follows their order); the nothing-silenced variant and the given units,
    in that order, go through the network `chunk` at a time.

    Example:
        >>> import torch, torch.nn as nn
        >>> from torch.utils.data import TensorDataset
        >>> model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)).eval()
        >>> data = TensorDataset(torch.randn(10, 4), torch.randint(0, 2, (10,)))
        >>> base, each = unit_sweep(model, data, "1", progress=False)
        >>> each.shape
        torch.Size([3])
    """
    dataset = as_dataset(data)
    with eval_mode(model):
        sweep = Sweep(model, dataset, layer, metric, value, batch_size, chunk, 0, progress)
        u = sweep.info.n_units
        chosen = _unit_list(units, u)
        values = sweep.evaluate(torch.cat([torch.ones(1, u), 1 - torch.eye(u)[chosen]]),
                                torch.zeros(len(chosen) + 1))
    info = {"value": _plain(value), "n": len(dataset), "fast": sweep.split.fast}
    if units is not None:
        info["units"] = chosen
    return UnitSweep(sweep.info.name, metric if isinstance(metric, str) else "custom",
                     float(values[0]), values[1:], info)


def _unit_list(units: Sequence[int] | None, n_units: int) -> list[int]:
    """The units to sweep as a list; one outside the layer is refused."""
    chosen = list(range(n_units)) if units is None else [int(u) for u in units]
    bad = [u for u in chosen if not 0 <= u < n_units]
    if bad:
        raise UnitOutOfRangeError(f"unit {bad[0]} is out of range: the layer has units 0 to "
                                  f"{n_units - 1}")
    return chosen


def _renamed(given: dict[str, Any], fractions: int) -> int:
    """`fractions` under its earlier name ``steps`` (now kept for optimizer steps)."""
    import warnings

    unknown = sorted(set(given) - {"steps"})
    if unknown:
        raise TypeError(f"ablation_study() got unexpected keyword arguments {unknown}")
    if "steps" in given:
        warnings.warn("ablation_study(steps=...) is now fractions=...; steps means optimizer "
                      "steps elsewhere", DeprecationWarning, stacklevel=3)
        return int(given["steps"])
    return fractions


def _plain(value: Any) -> Any:
    """The fill value as the result's JSON keeps it (one number per unit: listed)."""
    if isinstance(value, (str, int, float)):
        return value
    return [float(v) for v in torch.as_tensor(value).flatten().tolist()]
