"""Statistics that several methods share: each unit's mean and spread over a dataset,
and rank correlation."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .data import as_dataset, batch_input, first_batch, loader, move, run_model
from .hooks import tap
from .layers import eval_mode, find_layer, layer_table
from .model import model_device
from .spec import refuse_unreadable
from .units import per_unit


def unit_stats(model: nn.Module, data: Any, layer: str, *, batch_size: int = 256,
               progress: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean [U], std [U]) of every unit of `layer` over the dataset and all positions.

    This is what ``value="mean"`` means wherever a dataset is given (`ablation_study`,
    `unit_sweep`); pass ``value=unit_stats(model, data, layer)[0]`` to `ns.ablate` to
    silence units with their dataset mean rather than the mean of the batch at hand.

    Example:
        >>> model = nn.Sequential(nn.Linear(2, 3))
        >>> mean, std = unit_stats(model, torch.randn(10, 2), "0", progress=False)
        >>> mean.shape, std.shape
        (torch.Size([3]), torch.Size([3]))
    """
    dataset = as_dataset(data)
    refuse_unreadable(model, dataset)
    device = model_device(model)
    s1 = s2 = None
    count = 0

    def observe(_: str, t: torch.Tensor) -> None:
        nonlocal s1, s2, count
        flat = per_unit(t.detach().double(), info.unit_axis).cpu()
        s1 = flat.sum((0, 2)) + (s1 if s1 is not None else 0)
        s2 = flat.pow(2).sum((0, 2)) + (s2 if s2 is not None else 0)
        count += flat.shape[0] * flat.shape[2]

    from tqdm.auto import tqdm

    with eval_mode(model), torch.no_grad():
        info = find_layer(model, layer_table(model, first_batch(dataset, device)), layer,
                          single_call=True, layer_only=True)
        with tap(model, [info.name], observe):
            for batch in tqdm(loader(dataset, batch_size), desc=f"statistics of {info.name}",
                              disable=not progress, leave=False, mininterval=0.5):
                run_model(model, move(batch_input(batch), device))
    if s1 is None or s2 is None:
        zeros = torch.zeros(info.n_units)
        return zeros, zeros.clone()
    mean = s1 / max(1, count)
    std = (s2 / max(1, count) - mean**2).clamp_min(0).sqrt()
    return mean.float(), std.float()


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
