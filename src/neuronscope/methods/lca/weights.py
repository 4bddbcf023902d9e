"""The model's weights and buffers as `LCA` (tracker.py) handles them: copies and
comparisons of parameter and buffer values, moving the parameters along a step's path,
putting other buffer values in place for one measurement, a fingerprint to recognise
the weights a checkpoint was made at, and the measurement itself: the loss and its
gradient on the evaluation set under a forked random state, so that training goes on
as it would without LCA.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from .evaluate import EvalSet, LossFn, loss_and_grad


def copies(tensors: Iterable[torch.Tensor]) -> list[torch.Tensor]:
    """Detached copies of `tensors` (the values now, kept apart from the model)."""
    return [t.detach().clone() for t in tensors]


def same(now: Any, then: list[torch.Tensor] | None) -> bool:
    """Whether the tensors `now` hold exactly the values `then` (None: never)."""
    now = list(now)
    return then is not None and len(now) == len(then) and all(
        torch.equal(a, b) for a, b in zip(now, then, strict=True))


def copy_into(targets: Iterable[torch.Tensor], values: list[torch.Tensor]) -> None:
    """Set each of `targets` (parameters or buffers) to its value in `values`, in place."""
    with torch.no_grad():
        for t, v in zip(targets, values, strict=True):
            t.copy_(v)


@contextmanager
def buffers_as(model: nn.Module, buffers: list[torch.Tensor]) -> Iterator[None]:
    """Within the block the model's buffers hold `buffers`; their own values after it."""
    now = copies(model.buffers())
    copy_into(model.buffers(), buffers)
    try:
        yield
    finally:
        copy_into(model.buffers(), now)


def measure(model: nn.Module, loss_fn: LossFn, data: EvalSet, params: list[torch.Tensor],
            grad: bool = True) -> tuple[float, list[torch.Tensor]]:
    """The loss and its gradient (with respect to `params`; [] without `grad`) on the
    evaluation set, the random state left as it was."""
    devices = [p.device for p in params if p.device.type == "cuda"][:1]
    with torch.random.fork_rng(devices=devices):
        loss, grads = loss_and_grad(model, loss_fn, data, params, grad)
    return loss, grads or []


def fingerprint(params: list[torch.Tensor]) -> torch.Tensor:
    """[N, 2]: each tensor's sum and sum of squares, in float64 (to recognise weights)."""
    return torch.tensor([[float(p.detach().double().sum()), float(p.detach().double().pow(2).sum())]
                         for p in params], dtype=torch.float64)


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside DistributedDataParallel / DataParallel (LCA's own passes must not
    run their gradient synchronization)."""
    wrappers = (nn.parallel.DistributedDataParallel, nn.DataParallel)
    return model.module if isinstance(model, wrappers) else model
