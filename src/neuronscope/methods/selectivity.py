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
from typing import Any

import torch
from torch import nn

from neuronscope.core.data import (
    as_dataset,
    batch_input,
    batch_labels,
    first_batch,
    loader,
    move,
    run_model,
)
from neuronscope.core.hooks import tap
from neuronscope.core.layers import eval_mode, find_layer, layer_table
from neuronscope.core.model import model_device
from neuronscope.core.result import Result
from neuronscope.core.spec import refuse_unreadable
from neuronscope.core.stats import spearman
from neuronscope.core.units import per_unit


@dataclass
class ClassSelectivity(Result):
    """Per unit of `layer`: ``selectivity`` [U] and the class means ``class_means`` [C, U]
    (with ``counts`` [C] inputs per class).

    Example:
        >>> import tempfile
        >>> sel = ClassSelectivity("fc1", torch.zeros(3), torch.ones(2, 3), torch.ones(2))
        >>> ClassSelectivity.load(sel.save(tempfile.mkdtemp() + "/s.safetensors")).layer
        'fc1'
    """

    FORMAT = "neuronscope.class_selectivity"

    layer: str
    selectivity: torch.Tensor
    class_means: torch.Tensor
    counts: torch.Tensor

    def correlation(self, importance: torch.Tensor) -> float:
        """Spearman correlation between selectivity and a per-unit importance."""
        return spearman(self.selectivity, importance)


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


def class_selectivity(model: nn.Module, data: Any, layer: str, *, batch_size: int = 256,
                      progress: bool = True) -> ClassSelectivity:
    """The class selectivity index of every unit of `layer` over a labelled dataset.

    Example:
        >>> import torch, torch.nn as nn
        >>> from torch.utils.data import TensorDataset
        >>> model = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
        >>> data = TensorDataset(torch.rand(8, 2), torch.tensor([0, 1] * 4))
        >>> class_selectivity(model, data, "1", progress=False).selectivity.shape
        torch.Size([2])
    """
    from tqdm.auto import tqdm

    dataset = as_dataset(data)
    refuse_unreadable(model, dataset)
    device = model_device(model)
    sums = torch.zeros(0, 0, dtype=torch.float64)
    counts = torch.zeros(0, dtype=torch.float64)
    current: dict[str, torch.Tensor] = {}

    def observe(_: str, t: torch.Tensor) -> None:
        current["act"] = per_unit(t.detach(), info.unit_axis).mean(2)

    with eval_mode(model):
        info = find_layer(model, layer_table(model, first_batch(dataset, device)), layer,
                          single_call=True, layer_only=True)
        with torch.no_grad(), tap(model, [info.name], observe):
            for batch in tqdm(loader(dataset, batch_size), desc="class selectivity",
                              disable=not progress, leave=False):
                run_model(model, move(batch_input(batch), device))
                per, y = current["act"].double().cpu(), batch_labels(batch).long().cpu()
                if int(y.max()) + 1 > sums.shape[0]:  # grow to the classes seen so far
                    sums, counts = _grow(sums, counts, int(y.max()) + 1, per.shape[1])
                sums.index_add_(0, y, per)
                counts.index_add_(0, y, torch.ones(len(y), dtype=torch.float64))
    present = counts > 0
    means = sums[present] / counts[present].view(-1, 1)
    return ClassSelectivity(info.name, selectivity_index(means).float(), means.float(),
                            counts[present])


def _grow(sums: torch.Tensor, counts: torch.Tensor, n_classes: int, n_units: int
          ) -> tuple[torch.Tensor, torch.Tensor]:
    grown = torch.zeros(n_classes, n_units, dtype=torch.float64)
    grown_n = torch.zeros(n_classes, dtype=torch.float64)
    if len(counts):
        grown[: sums.shape[0]], grown_n[: counts.shape[0]] = sums, counts
    return grown, grown_n
