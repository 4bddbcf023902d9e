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
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from neuronscope.core import store
from neuronscope.core.errors import NeuronscopeError
from neuronscope.core.hooks import record
from neuronscope.core.layers import eval_mode, layers
from neuronscope.core.split import LayerSplit
from neuronscope.core.units import Unit, find_module

from .examples.mine import as_dataset, batch_input
from .selectivity import ClassSelectivity, batch_labels, spearman

logger = logging.getLogger(__name__)
FORMAT = "neuronscope.ablation_study/1"
Metric = Callable[[torch.Tensor, torch.Tensor], float]


@dataclass
class AblationStudy:
    """What silencing units of `layer` does to `metric`.

    ``importance[u]``: how much worse the metric gets when unit u alone is silenced
    (accuracy: baseline minus ablated; loss: ablated minus baseline). ``curves``: the
    metric when the first ``fractions[i]`` of the units are silenced, in random order
    (``"random"`` [repeats, F]), most important first (``"importance"`` [F]) and most
    selective first (``"selectivity"`` [F], when selectivity was given).
    ``noise``: the metric with Gaussian noise of ``noise_scales[i]`` times each unit's
    standard deviation added to the layer.
    """

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

    def save(self, path: str | Path) -> Path:
        tensors = {"single": self.single, "importance": self.importance,
                   "fractions": self.fractions, "noise_scales": self.noise_scales,
                   "noise": self.noise, **{f"curve/{k}": v for k, v in self.curves.items()}}
        meta = {"format": FORMAT, "layer": self.layer, "metric": self.metric,
                "baseline": self.baseline, "info": self.info}
        return store.save(path, tensors, meta)

    @classmethod
    def load(cls, path: str | Path) -> AblationStudy:
        t, m = store.load(path, FORMAT)
        curves = {k.split("/", 1)[1]: v for k, v in t.items() if k.startswith("curve/")}
        return cls(m["layer"], m["metric"], m["baseline"], t["single"], t["importance"],
                   t["fractions"], curves, t["noise_scales"], t["noise"], m.get("info", {}))


def _metric_sums(metric: str | Metric) -> Callable[[torch.Tensor, torch.Tensor], float]:
    """A function giving a batch's metric *summed* over its examples."""
    if metric == "accuracy":
        return lambda out, y: float((out.argmax(1) == y).sum())
    if metric == "loss":
        return lambda out, y: float(F.cross_entropy(out, y, reduction="sum"))
    if callable(metric):
        return lambda out, y: float(metric(out, y)) * len(y)
    raise ValueError(f"metric must be 'accuracy', 'loss' or a callable, got {metric!r}")


class _Layer:
    """Shape facts of the layer and the making of variants of its output."""

    def __init__(self, axis: int | None, n_units: int) -> None:
        self.axis, self.n = axis, n_units

    def view(self, t: torch.Tensor, per_unit: torch.Tensor) -> torch.Tensor:
        """Per-unit values [M, U] shaped to broadcast against [M, *t.shape]."""
        shape = [per_unit.shape[0]] + [1] * t.dim()
        if self.axis is not None:
            shape[1 + self.axis] = self.n
        return per_unit.view(shape).to(t)

    def variants(self, t: torch.Tensor, keep: torch.Tensor, fill: torch.Tensor,
                 scales: torch.Tensor, std: torch.Tensor, seed: int) -> torch.Tensor:
        """[M * B, ...]: variant i keeps units where keep[i] is 1, puts `fill` elsewhere,
        and adds noise of scales[i] times each unit's std (seeded per batch)."""
        m = keep.shape[0]
        out = torch.where(self.view(t, keep) > 0, t.unsqueeze(0),
                          self.view(t, fill.expand(m, -1)))
        if bool((scales > 0).any()):
            g = torch.Generator().manual_seed(seed)
            eps = torch.randn((m, *t.shape), generator=g).to(t)
            out = out + self.view(t, scales.view(-1, 1) * std.view(1, -1)) * eps
        return out.reshape(m * t.shape[0], *t.shape[1:])


def ablation_study(model: nn.Module, data: Any, layer: str, metric: str | Metric = "accuracy",
                   value: float | str = 0.0, selectivity: ClassSelectivity | torch.Tensor |
                   None = None, steps: int = 11, repeats: int = 5,
                   noise_scales: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0),
                   batch_size: int = 256, chunk: int = 64, seed: int = 0,
                   progress: bool = True) -> AblationStudy:
    """Silence units of `layer` singly and cumulatively and measure `metric` on `data`.

    `data` is a labelled dataset (items ``(input, label)``). `value` replaces a
    silenced unit: a number, or ``"mean"`` (its mean over the dataset and positions).
    `steps` fractions from 0 to 1 make the cumulative curves, `repeats` random orders.
    `chunk` variants go through the upper network at once.

    Example:
        >>> import torch, torch.nn as nn
        >>> from torch.utils.data import TensorDataset
        >>> model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3)).eval()
        >>> data = TensorDataset(torch.randn(30, 4), torch.randint(0, 3, (30,)))
        >>> study = ablation_study(model, data, "1", progress=False)
        >>> study.importance.shape, study.curves["random"].shape
        (torch.Size([6]), torch.Size([5, 11]))
    """
    dataset = as_dataset(data)
    with eval_mode(model):
        info, run = _setup(model, dataset, layer, metric, value, batch_size, chunk, seed,
                           progress)
        name, split = info.name, run["split"]
        u, fracs = info.n_units, torch.linspace(0, 1, steps)
        counts = [round(float(f) * u) for f in fracs]
        g = torch.Generator().manual_seed(seed)
        orders = {f"random{r}": torch.randperm(u, generator=g) for r in range(repeats)}
        sel = selectivity.selectivity if isinstance(selectivity, ClassSelectivity) else selectivity
        if sel is not None:
            orders["selectivity"] = torch.argsort(sel.float(), descending=True, stable=True)
        keep = [torch.ones(u)] + [1 - torch.eye(u)[i] for i in range(u)]
        for order in orders.values():
            keep += [_keep_first(order, c, u) for c in counts]
        scales = [0.0] * len(keep) + list(noise_scales)
        keep += [torch.ones(u)] * len(noise_scales)
        values = _evaluate(dataset, torch.stack(keep), torch.tensor(scales), **run)
        base, single = float(values[0]), values[1:u + 1]
        worse = (lambda v: base - v) if metric != "loss" else (lambda v: v - base)
        importance = worse(single)
        order = torch.argsort(importance, descending=True, stable=True)
        by_importance = _evaluate(dataset, torch.stack([_keep_first(order, c, u)
                                                        for c in counts]),
                                  torch.zeros(len(counts)), **run)
    at = u + 1
    curves = {"random": values[at:at + repeats * steps].view(repeats, steps),
              "importance": by_importance}
    at += repeats * steps
    if sel is not None:
        curves["selectivity"] = values[at:at + steps]
        at += steps
    info_out: dict[str, Any] = {"value": value, "fast": split.fast, "why_slow": split.why,
                                "n": len(dataset), "repeats": repeats, "seed": seed}
    if sel is not None:
        info_out["selectivity_importance_spearman"] = spearman(sel.float(), importance)
    return AblationStudy(name, metric if isinstance(metric, str) else "custom", base, single,
                         importance, fracs, curves, torch.tensor(noise_scales, dtype=torch.float32),
                         values[at:], info_out)


def unit_sweep(model: nn.Module, data: Any, layer: str, metric: str | Metric = "accuracy",
               value: float | str = 0.0, batch_size: int = 256, chunk: int = 64,
               progress: bool = True) -> tuple[float, torch.Tensor]:
    """(metric with nothing silenced, metric with each unit silenced alone [U]): the
    single-unit part of `ablation_study`, on its own.

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
        info, run = _setup(model, dataset, layer, metric, value, batch_size, chunk, 0, progress)
        u = info.n_units
        keep = torch.cat([torch.ones(1, u), 1 - torch.eye(u)])
        values = _evaluate(dataset, keep, torch.zeros(u + 1), **run)
    return float(values[0]), values[1:]


def _setup(model: nn.Module, dataset: Any, layer: str, metric: str | Metric,
           value: float | str, batch_size: int, chunk: int, seed: int, progress: bool
           ) -> tuple[Any, dict[str, Any]]:
    """The layer's facts and what `_evaluate` needs: the split, fill values, unit spreads."""
    name = str(Unit.parse(layer))
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    first = batch_input(next(iter(DataLoader(dataset, batch_size=1))))
    info = {i.name: i for i in layers(model, first.to(device))}.get(name)
    if info is None:
        find_module(model, Unit.parse(layer).module_path)
        raise NeuronscopeError(f"{name} is not a tensor output of the model")
    shape = _Layer(info.unit_axis, info.n_units)
    mean, std = _unit_stats(model, dataset, name, shape, batch_size, device)
    if value != "mean" and not isinstance(value, (int, float)):
        raise ValueError(f"value must be a number or 'mean', got {value!r}")
    fill = (mean if value == "mean" else torch.full_like(mean, float(value))).view(1, -1)
    split = LayerSplit(model, name)
    if not split.fast:
        logger.warning("ablation: %s; every variant runs the whole model", split.why)
    return info, dict(split=split, shape=shape, fill=fill, std=std, sums=_metric_sums(metric),
                      seed=seed, batch_size=batch_size, chunk=chunk, device=device,
                      progress=progress)


def _keep_first(order: torch.Tensor, count: int, u: int) -> torch.Tensor:
    keep = torch.ones(u)
    keep[order[:count]] = 0
    return keep


def _unit_stats(model: nn.Module, dataset: Any, name: str, shape: _Layer, batch_size: int,
                device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Each unit's mean and standard deviation over the dataset and positions."""
    s1 = torch.zeros(shape.n, dtype=torch.float64)
    s2 = torch.zeros(shape.n, dtype=torch.float64)
    count = 0
    with torch.no_grad(), record(model, [name]) as rec:
        for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False):
            model(batch_input(batch).to(device))
            t = rec[name].double().cpu()
            flat = (t.reshape(t.shape[0], 1, -1) if shape.axis is None
                    else t.movedim(shape.axis, 1).reshape(t.shape[0], shape.n, -1))
            s1 += flat.sum((0, 2))
            s2 += flat.pow(2).sum((0, 2))
            count += flat.shape[0] * flat.shape[2]
    mean = s1 / max(1, count)
    std = (s2 / max(1, count) - mean**2).clamp_min(0).sqrt()
    return mean.float(), std.float()


def _evaluate(dataset: Any, keep: torch.Tensor, scales: torch.Tensor, *, split: LayerSplit,
              shape: _Layer, fill: torch.Tensor, std: torch.Tensor, sums: Callable,
              seed: int, batch_size: int, chunk: int, device: torch.device,
              progress: bool) -> torch.Tensor:
    """The metric (mean over the dataset) of every variant: keep [V, U], scales [V]."""
    from tqdm.auto import tqdm

    total = torch.zeros(len(keep), dtype=torch.float64)
    n = 0
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    steps = math.ceil(len(keep) / chunk) * len(loader)
    with tqdm(total=steps, desc=f"ablating {split.layer}", disable=not progress,
              leave=False, mininterval=0.5) as bar:
        for b, batch in enumerate(loader):
            x, y = batch_input(batch).to(device), batch_labels(batch).to(device)
            for start in range(0, len(keep), chunk):
                k, s = keep[start:start + chunk], scales[start:start + chunk]
                out = split.run(x, lambda t, k=k, s=s, b=b, start=start: shape.variants(
                    t, k, fill, s, std, seed * 100003 + b * 1009 + start), len(k))
                for i, part in enumerate(out.view(len(k), len(y), *out.shape[1:])):
                    total[start + i] += sums(part, y)
                bar.update(1)
            n += len(y)
    return (total / max(1, n)).float()
