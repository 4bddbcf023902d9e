"""`Sweep`: a metric over a labelled dataset for many variants of one layer's output.

A variant keeps some units, replaces the others by a fill value and may add noise
scaled to each unit's spread. The variants of a batch run through the network
above the layer together (`LayerSplit`), `chunk` at a time.
"""

from __future__ import annotations

import logging
import math
import weakref
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from neuronscope.core.data import (
    batch_input,
    batch_labels,
    first_batch,
    loader,
    map_tensors,
    move,
)
from neuronscope.core.layers import find_layer, layer_table
from neuronscope.core.model import logits_of, model_device
from neuronscope.core.spec import foreign_labels, input_spec, refuse_unreadable
from neuronscope.core.split import LayerSplit
from neuronscope.core.stats import unit_stats

logger = logging.getLogger(__name__)
Metric = Callable[[torch.Tensor, torch.Tensor], float]
METRICS = ("accuracy", "loss")  # by name: against the data's labels as class indices
_SAID: weakref.WeakKeyDictionary[nn.Module, set[str]] = weakref.WeakKeyDictionary()
# the layers of each model whose slow path was told, once each


def metric_sums(metric: str | Metric) -> Callable[[Any, torch.Tensor], tuple[float, int]]:
    """A function giving a batch's metric *summed* over what it counts, and how many it
    counted (from the logits of the model's output): examples for one label per input
    (logits [B, classes]), positions for a label per position (a language model's
    logits [B, T, vocabulary] and next tokens [B, T]); a callable gives one mean per
    batch, counted per example.

    Example:
        >>> sums = metric_sums("accuracy")
        >>> sums(torch.tensor([[0.0, 1.0], [1.0, 0.0]]), torch.tensor([1, 1]))
        (1.0, 2)
        >>> sums(torch.zeros(1, 3, 4).index_fill(2, torch.tensor([2]), 1.0),
        ...      torch.tensor([[2, 2, 0]]))
        (2.0, 3)
    """
    if metric in METRICS:
        def sums(out: Any, y: torch.Tensor) -> tuple[float, int]:
            logits = _class_last(logits_of(out), y)
            if metric == "accuracy":
                return float((logits.argmax(-1) == y).sum()), y.numel()
            return float(F.cross_entropy(logits.flatten(0, -2), y.flatten(),
                                         reduction="sum")), y.numel()
        return sums
    if callable(metric):
        return lambda out, y: (float(metric(logits_of(out), y)) * len(y), len(y))
    raise ValueError(f"metric must be 'accuracy', 'loss' or a callable, got {metric!r}")


def _class_last(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """`logits` with classes on the last axis: [B, classes] for labels [B], or
    [B, T, classes] for labels [B, T]; anything else is refused, saying what was given."""
    if logits.dim() == y.dim() + 1 and logits.shape[:-1] == y.shape and \
            not y.is_floating_point():
        return logits
    raise ValueError(
        f"the model gives {tuple(logits.shape)} for labels of shape {tuple(y.shape)}: "
        "accuracy and loss take logits [batch, classes] with one class per input, or "
        "[batch, positions, classes] with one per position; give metric= a callable "
        "(logits, labels) -> mean for anything else")


def keep_first(order: torch.Tensor, count: int, u: int) -> torch.Tensor:
    """A keep mask [U] with the first `count` units of `order` silenced."""
    keep = torch.ones(u)
    keep[order[:count]] = 0
    return keep


class Sweep:
    """The layer, its split, fill values and unit spreads: what evaluating variants needs."""

    def __init__(self, model: nn.Module, dataset: Any, layer: str, metric: str | Metric,
                 value: Any, batch_size: int, chunk: int, seed: int, progress: bool) -> None:
        refuse_unreadable(model, dataset)
        foreign = foreign_labels(dataset, input_spec(model)) if metric in METRICS else None
        if foreign:  # the metric compares the model's class indices with the data's labels
            logger.warning("ablation: %s: the %s compares the model's class indices with "
                           "them, which means nothing unless they match", foreign, metric)
        self.dataset, self.batch_size, self.chunk, self.seed = dataset, batch_size, chunk, seed
        self.device, self.progress, self.sums = model_device(model), progress, metric_sums(metric)
        self.info = find_layer(model, layer_table(model, first_batch(dataset, self.device)),
                               layer, single_call=True, layer_only=True)
        mean, self.std = unit_stats(model, dataset, self.info.name, batch_size=batch_size,
                                    progress=progress)
        self.fill = _fill(value, mean).view(1, -1)
        self.split = LayerSplit(model, self.info.name)
        said = _SAID.setdefault(model, set())
        if not self.split.fast and self.info.name not in said:
            said.add(self.info.name)
            logger.warning("ablation cannot run only the layers above %s (%s): every variant "
                           "runs the whole model, which is slower and gives the same numbers",
                           self.info.name, self.split.why)

    def view(self, t: torch.Tensor, per_unit: torch.Tensor) -> torch.Tensor:
        """Per-unit values [M, U] shaped to broadcast against [M, *t.shape]."""
        shape = [per_unit.shape[0]] + [1] * t.dim()
        if self.info.unit_axis is not None:
            shape[1 + self.info.unit_axis] = self.info.n_units
        return per_unit.view(shape).to(t)

    def variants(self, t: torch.Tensor, keep: torch.Tensor, scales: torch.Tensor, seed: int
                 ) -> torch.Tensor:
        """[M * B, ...]: variant i keeps units where keep[i] is 1, puts the fill elsewhere,
        and adds noise of scales[i] times each unit's std (seeded per batch)."""
        m = keep.shape[0]
        out = torch.where(self.view(t, keep) > 0, t.unsqueeze(0),
                          self.view(t, self.fill.expand(m, -1)))
        if bool((scales > 0).any()):
            g = torch.Generator().manual_seed(seed)
            eps = torch.randn((m, *t.shape), generator=g).to(t)
            out = out + self.view(t, scales.view(-1, 1) * self.std.view(1, -1)) * eps
        return out.reshape(m * t.shape[0], *t.shape[1:])

    def evaluate(self, keep: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
        """The metric (mean over the dataset) of every variant: keep [V, U], scales [V]."""
        from tqdm.auto import tqdm

        total = torch.zeros(len(keep), dtype=torch.float64)
        n = 0
        batches = loader(self.dataset, self.batch_size)
        steps = math.ceil(len(keep) / self.chunk) * len(batches)
        with tqdm(total=steps, desc=f"ablating {self.split.layer}", disable=not self.progress,
                  leave=False, mininterval=0.5) as bar:
            for b, batch in enumerate(batches):
                x = move(batch_input(batch), self.device)
                y = batch_labels(batch).to(self.device)
                for start in range(0, len(keep), self.chunk):
                    k, s = keep[start:start + self.chunk], scales[start:start + self.chunk]
                    seed = self.seed * 100003 + b * 1009 + start
                    single = None if bool((s > 0).any()) else (  # (noise: drawn for all)
                        lambda t, i, k=k, s=s: self.variants(t, k[i:i + 1], s[i:i + 1], 0))
                    out = self.split.run(x, lambda t, k=k, s=s, seed=seed: self.variants(
                        t, k, s, seed), len(k), single)
                    for i in range(len(k)):
                        rows = slice(i * len(y), (i + 1) * len(y))  # variant i's part of the output
                        got, count = self.sums(map_tensors(lambda t, r=rows: t[r], out), y)
                        total[start + i] += got
                    bar.update(1)
                n += count
        return (total / max(1, n)).float()


def _fill(value: Any, mean: torch.Tensor) -> torch.Tensor:
    """What replaces each silenced unit: a number, "mean" (the dataset mean), or one
    number per unit."""
    if isinstance(value, str):
        if value != "mean":
            raise ValueError(f"value must be a number, 'mean' or one number per unit, got "
                             f"{value!r}")
        return mean
    if isinstance(value, (int, float)) or getattr(value, "ndim", None) == 0:
        return torch.full_like(mean, float(value))
    per_unit = torch.as_tensor(value, dtype=mean.dtype).flatten()
    if len(per_unit) != len(mean):
        raise ValueError(f"value gives {len(per_unit)} numbers for {len(mean)} units")
    return per_unit
