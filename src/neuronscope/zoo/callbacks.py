"""Code that runs inside `fit`: the `TrainState` it sees and the five callback moments.

A callback is any object with some of the methods in `CALLBACK_METHODS`, each taking
the `TrainState`; missing ones are skipped (subclassing `Callback` is optional). Per
training run the calls are::

    on_train_start
    for each epoch:  for each batch:  before_step, after_step;  then on_epoch_end
    on_train_end

``before_step`` runs after the batch is drawn and before the forward pass (``state.loss``
is None); ``after_step`` runs right after ``optimizer.step()`` and *before*
``scheduler.step()``, so the optimizer's learning rate is the one this step used and
``state.loss`` is this batch's loss. Callbacks run with the global torch RNG forked and
the model's train/eval mode restored afterwards, so a callback that only reads (e.g.
evaluates the model) leaves training bit-identical to a run without it. Evaluate in
eval mode: a forward pass in train mode updates batch-norm running statistics.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:
    from .recipes import Recipe
    from .tasks import Task

CALLBACK_METHODS = ("on_train_start", "before_step", "after_step", "on_epoch_end", "on_train_end")


@dataclass
class TrainState:
    """What a callback sees; `fit` updates this one object in place as training goes on.

    ``epoch`` counts from 0. ``step`` is the index of the current batch over the whole
    run (0-based) in ``before_step`` / ``after_step``, and the number of batches done
    in ``on_epoch_end`` / ``on_train_end``. ``metrics`` holds ``epoch_loss`` (mean batch
    loss of the last finished epoch) during training and, in ``on_train_end``, everything
    `fit` returns (a callback may add entries).

    Example:
        >>> m = nn.Linear(2, 1)
        >>> s = TrainState(m, torch.optim.SGD(m.parameters(), lr=0.1), None, None, None)
        >>> s.step, s.loss, s.metrics
        (0, None, {})
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    recipe: Recipe
    task: Task
    epoch: int = 0
    step: int = 0
    batch: Any = None
    loss: torch.Tensor | None = None
    metrics: dict[str, Any] = field(default_factory=dict)


class Callback:
    """A callback that does nothing; subclass it and override the moments you need.

    Example:
        >>> class CountSteps(Callback):
        ...     n = 0
        ...     def after_step(self, state: TrainState) -> None:
        ...         self.n += 1
        >>> CountSteps().n
        0
    """

    def on_train_start(self, state: TrainState) -> None:
        """Once, before the first batch (the model is in train mode)."""

    def before_step(self, state: TrainState) -> None:
        """Before the forward pass of each batch."""

    def after_step(self, state: TrainState) -> None:
        """Right after ``optimizer.step()`` of each batch, before ``scheduler.step()``."""

    def on_epoch_end(self, state: TrainState) -> None:
        """After the last batch of each epoch."""

    def on_train_end(self, state: TrainState) -> None:
        """Once, after evaluation (the model is in eval mode; metrics are final)."""


def check_callbacks(callbacks: Sequence[Any]) -> None:
    """Refuse a callback with none of the callback methods (a bare function, say).

    Example:
        >>> check_callbacks([Callback()])
        >>> check_callbacks([print])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        TypeError: callback 0 (<built-in function print>) has none of the methods ...
    """
    for i, cb in enumerate(callbacks):
        if not any(callable(getattr(cb, m, None)) for m in CALLBACK_METHODS):
            raise TypeError(
                f"callback {i} ({cb!r}) has none of the methods {', '.join(CALLBACK_METHODS)}; "
                "a callback is an object with some of them, each taking the TrainState"
            )


def run_callbacks(callbacks: Sequence[Any], moment: str, state: TrainState) -> None:
    """Call ``moment(state)`` on every callback that has it, in order."""
    if not callbacks:
        return
    modes = {m: m.training for m in state.model.modules()}  # every module's own mode
    devices = sorted({p.device.index or 0 for p in state.model.parameters()
                      if p.device.type == "cuda"})
    with torch.random.fork_rng(devices=devices):
        for cb in callbacks:
            method = getattr(cb, moment, None)
            if method is not None:
                method(state)
    for module, training in modes.items():
        module.training = training
