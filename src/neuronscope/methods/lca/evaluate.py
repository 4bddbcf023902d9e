"""The loss and its gradient on LCA's fixed evaluation set, at the model's current weights.

`EvalSet` turns what the user gave (a DataLoader or any re-iterable of batches, or a
Dataset, batched here) into the batches to evaluate. `loss_and_grad` runs the user's
``loss_fn(model, batch)`` on each batch in eval mode (dropout off, batch norm on its
running statistics), weights each batch's mean loss by its number of examples, and
returns the mean loss over the whole set and its gradient, both in float64. Under
torch.distributed each rank takes every ``world``-th batch and the sums are added over
the ranks, so every rank gets the figure one process would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from neuronscope.core.data import batch_size_of, loader, move
from neuronscope.core.errors import NeuronscopeError
from neuronscope.core.layers import eval_mode
from neuronscope.core.ranks import Ranks

LossFn = Callable[[nn.Module, Any], torch.Tensor]


class EvalSet:
    """The evaluation batches of this rank: every ``world``-th batch of `data`, a
    DataLoader or any re-iterable of batches (a list), or a torch Dataset or a tensor of
    examples, batched here by `batch_size`.

    Example:
        >>> ev = EvalSet(torch.zeros(10, 3), batch_size=4)
        >>> [len(b[0]) for b in ev], ev.n_batches
        ([4, 4, 2], 3)
    """

    def __init__(self, data: Any, batch_size: int = 256, ranks: Ranks | None = None) -> None:
        if isinstance(data, tuple) and data and all(isinstance(t, torch.Tensor) for t in data):
            raise NeuronscopeError(
                "eval_data is a tuple of tensors, which reads as one batch (inputs, labels): "
                "give a list of batches, [(x, y)], a DataLoader or a Dataset")
        if not isinstance(data, (torch.utils.data.Dataset, torch.Tensor)):
            if not isinstance(data, Iterable):
                raise NeuronscopeError(f"eval_data must be a DataLoader, a list of batches or "
                                       f"a torch Dataset, got {type(data).__name__}")
            with torch.random.fork_rng(devices=[]):  # a loader's iterator draws a seed
                once = iter(data) is data
            if once:  # a generator or an iterator: one pass only
                raise NeuronscopeError(
                    "eval_data is an iterator, which runs out after one pass; LCA evaluates "
                    "the same data at every step: give a DataLoader, a list of batches or a "
                    "Dataset")
            self.batches: Iterable[Any] = data
        else:
            if len(data) == 0:
                raise NeuronscopeError("eval_data is empty: give the examples the loss is "
                                       "measured on (the paper uses the whole training set)")
            self.batches = loader(data, batch_size)
        self.ranks = ranks or Ranks.current()
        self.n_examples: int | None = None  # known after the first pass
        try:
            self.n_batches = len(self.batches)  # type: ignore[arg-type]
        except TypeError:
            with torch.random.fork_rng(devices=[]):  # a loader draws a seed per pass
                self.n_batches = sum(1 for _ in self.batches)
        if self.n_batches == 0:
            raise NeuronscopeError("eval_data yields no batches")

    def __iter__(self):  # noqa: ANN204 - a generator of batches
        for i, batch in enumerate(self.batches):
            if i % self.ranks.world == self.ranks.rank:
                yield batch


def loss_and_grad(model: nn.Module, loss_fn: LossFn, data: EvalSet,
                  params: list[torch.Tensor], grad: bool = True
                  ) -> tuple[float, list[torch.Tensor] | None]:
    """(mean loss, its gradient for each of `params` in float64) over `data`.

    Example:
        >>> model = nn.Linear(2, 1, bias=False)
        >>> _ = nn.init.ones_(model.weight)
        >>> fn = lambda m, b: m(b[0]).pow(2).mean()
        >>> loss, (g,) = loss_and_grad(model, fn, EvalSet(torch.ones(4, 2)), [model.weight])
        >>> loss, g.tolist()
        (4.0, [[4.0, 4.0]])
    """
    from neuronscope.core.model import model_device

    device = model_device(model)
    total = torch.zeros(2 + sum(p.numel() for p in params) * grad, dtype=torch.float64,
                        device=device)  # [loss sum, count, gradient sums...]
    with eval_mode(model), torch.enable_grad():
        for batch in data:
            batch = move(batch, device)
            n = batch_size_of(batch)
            try:
                loss = loss_fn(model, batch)
            except TypeError as exc:
                exc.add_note("(LCA calls loss_fn(model, batch), batch as eval_data yields it)")
                raise
            if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
                raise NeuronscopeError(
                    f"loss_fn(model, batch) must return one number (the batch's mean loss), "
                    f"got {tuple(loss.shape) if isinstance(loss, torch.Tensor) else loss!r}")
            if not torch.isfinite(loss):
                raise NeuronscopeError(f"loss_fn returned {loss.item()} on an evaluation batch")
            if grad and not loss.requires_grad:
                raise NeuronscopeError("loss_fn returned a loss without a gradient (detached, "
                                       "or made by .item()): return the tensor the model "
                                       "computed")
            total[0] += loss.detach().double().reshape(()) * n
            total[1] += n
            if grad:
                gs = torch.autograd.grad(loss.reshape(()) * n, params, allow_unused=True)
                at = 2
                for p, g in zip(params, gs, strict=True):
                    if g is not None:
                        total[at:at + p.numel()] += g.reshape(-1).double()
                    at += p.numel()
    data.ranks.all_sum(total)
    count = float(total[1])
    if count == 0:
        raise NeuronscopeError("the evaluation batches hold no examples")
    data.n_examples = int(count)
    if not grad:
        return float(total[0]) / count, None
    flat = total[2:] / count
    return float(total[0]) / count, [g.view_as(p) for g, p in
                                     zip(flat.split([p.numel() for p in params]), params,
                                         strict=True)]
