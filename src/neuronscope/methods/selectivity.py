"""Class selectivity of units (Morcos et al. 2018): how much a unit prefers one class.

For each unit, the class-conditional mean activation (feature maps averaged over
positions first) gives ``mu_max`` (the largest class mean) and ``mu_rest`` (the mean
of the other classes' means); the selectivity index is
``(mu_max - mu_rest) / (mu_max + mu_rest)``: 0 when every class drives the unit
alike, 1 when only one class does. It is meant for non-negative activations (after a
ReLU); elsewhere it is still computed but hard to read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from neuronscope.core import store
from neuronscope.core.errors import NeuronscopeError
from neuronscope.core.hooks import tap
from neuronscope.core.layers import eval_mode, layers
from neuronscope.core.units import Unit

from .examples.mine import as_dataset, batch_input

FORMAT = "neuronscope.class_selectivity/1"


def batch_labels(batch: Any) -> torch.Tensor:
    """The labels of a collated batch: the second element, or a dict's ``label``."""
    if isinstance(batch, (tuple, list)) and len(batch) > 1:
        return torch.as_tensor(batch[1])
    if isinstance(batch, dict) and "label" in batch:
        return torch.as_tensor(batch["label"])
    raise NeuronscopeError("this needs labelled data: items (input, label) or dicts with 'label'")


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman rank correlation (ties get their average rank); nan when either is constant.

    Example:
        >>> spearman(torch.tensor([1.0, 2, 3, 4]), torch.tensor([10.0, 20, 25, 100]))
        1.0
    """
    from scipy.stats import spearmanr

    if a.numel() < 2 or bool((a == a.flatten()[0]).all()) or bool((b == b.flatten()[0]).all()):
        return float("nan")
    return float(spearmanr(a.double().numpy(), b.double().numpy()).statistic)


@dataclass
class ClassSelectivity:
    """Per unit of `layer`: ``selectivity`` [U] and the class means ``class_means`` [C, U].

    Example:
        >>> import torch, torch.nn as nn
        >>> from torch.utils.data import TensorDataset
        >>> model = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
        >>> data = TensorDataset(torch.rand(8, 2), torch.tensor([0, 1] * 4))
        >>> class_selectivity(model, data, "1", progress=False).selectivity.shape
        torch.Size([2])
    """

    layer: str
    selectivity: torch.Tensor
    class_means: torch.Tensor
    counts: torch.Tensor

    def correlation(self, importance: torch.Tensor) -> float:
        """Spearman correlation between selectivity and a per-unit importance."""
        return spearman(self.selectivity, importance)

    def save(self, path: str | Path) -> Path:
        return store.save(path, {"selectivity": self.selectivity, "class_means":
                                 self.class_means, "counts": self.counts},
                          {"format": FORMAT, "layer": self.layer})

    @classmethod
    def load(cls, path: str | Path) -> ClassSelectivity:
        t, meta = store.load(path, FORMAT)
        return cls(meta["layer"], t["selectivity"], t["class_means"], t["counts"])


def selectivity_index(class_means: torch.Tensor) -> torch.Tensor:
    """The index from class-conditional means [C, U] (0 where every mean is 0).

    Example:
        >>> selectivity_index(torch.tensor([[3.0, 1.0], [1.0, 1.0]])).tolist()
        [0.5, 0.0]
    """
    mu_max = class_means.max(0).values
    c = class_means.shape[0]
    mu_rest = (class_means.sum(0) - mu_max) / max(1, c - 1)
    total = mu_max + mu_rest
    return torch.where(total != 0, (mu_max - mu_rest) / total.where(total != 0, 1.0),
                       torch.zeros_like(total))


def class_selectivity(model: nn.Module, data: Any, layer: str, batch_size: int = 256,
                      progress: bool = True) -> ClassSelectivity:
    """The class selectivity index of every unit of `layer` over a labelled dataset."""
    from tqdm.auto import tqdm

    dataset = as_dataset(data)
    name = str(Unit.parse(layer))
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    sums: torch.Tensor | None = None
    counts: torch.Tensor | None = None
    current: dict[str, torch.Tensor] = {}

    def observe(_: str, t: torch.Tensor) -> None:
        current["act"] = t.detach()

    with eval_mode(model):
        first = batch_input(next(iter(DataLoader(dataset, batch_size=1))))
        info = {i.name: i for i in layers(model, first.to(device))}.get(name)
        if info is None:
            raise NeuronscopeError(f"{name} is not a tensor output of the model")
        with torch.no_grad(), tap(model, [name], observe):
            for batch in tqdm(loader, desc="class selectivity", disable=not progress,
                              leave=False):
                model(batch_input(batch).to(device))
                act = current["act"]
                if info.unit_axis is None:
                    per = act.reshape(act.shape[0], 1)
                else:
                    per = act.movedim(info.unit_axis, 1).reshape(act.shape[0], info.n_units, -1)
                    per = per.mean(2)
                y = batch_labels(batch).to(per.device).long()
                n_classes = int(y.max()) + 1
                if sums is None or n_classes > sums.shape[0]:
                    grown = torch.zeros(max(n_classes, 1), per.shape[1], dtype=torch.float64)
                    grown_n = torch.zeros(grown.shape[0], dtype=torch.float64)
                    if sums is not None and counts is not None:
                        grown[: sums.shape[0]], grown_n[: counts.shape[0]] = sums, counts
                    sums, counts = grown, grown_n
                sums.index_add_(0, y.cpu(), per.double().cpu())
                counts.index_add_(0, y.cpu(), torch.ones(len(y), dtype=torch.float64))
    assert sums is not None and counts is not None
    present = counts > 0
    means = sums[present] / counts[present].view(-1, 1)
    return ClassSelectivity(name, selectivity_index(means).float(), means.float(),
                            counts[present])
