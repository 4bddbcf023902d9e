"""`ns.LCA`: loss change allocation (Lan, Liu, Zhou & Yosinski 2019), live in any loop.

Call ``before_step()`` before a training step and ``after_step()`` after the optimizer
has moved the parameters (or ``wrap(optimizer)`` to have its ``step`` do both). Each
step's change of the loss on a fixed evaluation set is split among the parameters
along the straight path of the step (`neuronscope.methods.lca.path`); only per-step,
per-layer figures and per-parameter sums are kept (`neuronscope.methods.lca.tally`).

Cost per step: a pass with gradients over the evaluation set at the step's middle and
end (the end's gradient is the next step's start), more where the path is split. The
evaluation runs in eval mode (dropout off, batch norm on its running statistics) under
a forked random state, so the training itself goes as it would without LCA. Buffers
that the training step changes (batch-norm running statistics, moved by its forward
pass, which under `wrap` has run before ``before_step``) are held at their new value
along the path; their own effect on the loss is measured apart (``buffer_change``, one
more pass), not allocated to any parameter.

The copying, comparing and measuring of the model's weights and buffers is in
`neuronscope.methods.lca.weights`; the checks made when a run resumes from its
checkpoint, in `neuronscope.methods.lca.resume`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from neuronscope.core.errors import NeuronscopeError
from neuronscope.core.hooks import optimizer_hooks
from neuronscope.core.ranks import Ranks

from .evaluate import EvalSet, LossFn
from .path import METHODS, allocate
from .result import LCAResult
from .resume import check_checkpoint, check_weights, resume_help
from .tally import StepShards, Tally
from .weights import buffers_as, copies, copy_into, fingerprint, measure, same, unwrap

logger = logging.getLogger(__name__)


class LCA:
    """Loss change allocation of every optimizer step of a training run.

    `loss_fn(model, batch)` returns the mean loss of a batch as `eval_data` yields it (a
    DataLoader, a list of batches, or a Dataset batched by `batch_size`); batches are
    weighted by their size, so a summed loss would count each example many times. The
    loss is measured on the whole of `eval_data` (under torch.distributed, each rank
    takes its share of the batches). A parameter shared by several modules (tied
    weights) is counted once, in the layer of the first module that holds it.
    ``method="simpson"`` (or ``"first_order"``); steps whose allocation misses the
    measured loss change by more than `error_threshold` (relative) are split, at most
    `max_splits` times (a threshold below the float32 noise of the loss, about 1e-4 of a
    step's change, only costs passes). `per_step`: a folder to stream every step's
    per-parameter allocation to (`neuronscope.methods.lca.tally.read_steps` reads it);
    `checkpoint`: a file to save the record to every `checkpoint_every` steps (and by
    `save_checkpoint`) and to resume from: a new `LCA` given the file goes on at step
    ``lca.step``, the model (and optimizer) must be as they were when that many steps
    were done (this is checked).

    Example:
        >>> _ = torch.manual_seed(0)
        >>> model = nn.Linear(3, 1)
        >>> data = [(torch.randn(8, 3), torch.randn(8, 1)) for _ in range(2)]
        >>> loss_fn = lambda m, b: nn.functional.mse_loss(m(b[0]), b[1])
        >>> lca = LCA(model, loss_fn, data)
        >>> opt = lca.wrap(torch.optim.SGD(model.parameters(), lr=0.1))
        >>> for batch in data * 3:
        ...     opt.zero_grad(); loss_fn(model, batch).backward(); opt.step()
        >>> res = lca.result()
        >>> res.n_steps, bool((res.relative_error < 1e-3).all())
        (6, True)
    """

    def __init__(self, model: nn.Module, loss_fn: LossFn, eval_data: Any, *,
                 method: str = "simpson", error_threshold: float = 0.01, max_splits: int = 2,
                 batch_size: int = 256, per_step: str | Path | None = None,
                 shard_steps: int = 100, checkpoint: str | Path | None = None,
                 checkpoint_every: int = 50) -> None:
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        if not error_threshold > 0:
            raise ValueError(f"error_threshold is relative to the loss change and must be "
                             f"positive, got {error_threshold}")
        if int(max_splits) < 0:
            raise ValueError(f"max_splits must be 0 or more, got {max_splits}")
        if not callable(loss_fn):
            raise NeuronscopeError("loss_fn must be a function loss_fn(model, batch) -> the "
                                   "batch's mean loss")
        self.model = unwrap(model)
        self.loss_fn, self.method = loss_fn, method
        self.threshold, self.max_splits = float(error_threshold), int(max_splits)
        self.named = [(n, p) for n, p in self.model.named_parameters() if p.requires_grad]
        if not self.named:
            raise NeuronscopeError("the model has no parameter that requires a gradient: "
                                   "nothing to allocate")
        self.params = [p for _, p in self.named]
        self.ranks = Ranks.current()
        self.data = EvalSet(eval_data, batch_size, self.ranks)
        self.tally = Tally({n: tuple(p.shape) for n, p in self.named})
        self.settings = {"method": method, "error_threshold": self.threshold,
                         "max_splits": self.max_splits, "world": self.ranks.world,
                         "eval_batches": self.data.n_batches}
        self.shards = StepShards(per_step, list(self.tally.names), shard_steps) \
            if per_step is not None else None
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        self.checkpoint_every = int(checkpoint_every)
        self.step = 0
        self.start: list[torch.Tensor] | None = None  # the weights at the start of a step
        self.grad: list[torch.Tensor] | None = None  # the gradient there, and the loss
        self.loss: float | None = None
        self.in_step, self.handles, self.outside = False, [], 0.0
        self.start_loss, self.pre_buffer = 0.0, 0.0
        self.buffers: list[torch.Tensor] | None = copies(  # as first given (see before_step)
            self.model.buffers())
        self.expect: float | None = None  # a resumed run: the loss it stopped at
        self.warned_outside = False
        if self.checkpoint is not None and self.checkpoint.is_file():
            self._resume(LCAResult.load(self.checkpoint))

    def before_step(self) -> None:
        """Mark the weights before an optimizer step."""
        if self.in_step:
            raise NeuronscopeError("before_step() called twice without after_step() between")
        params_same, buffers_same = self._compare()
        outside = pre = 0.0
        if not (params_same and buffers_same and self.grad is not None and self.expect is None):
            self.start = copies(self.params)
            start_loss, self.grad = self._measure()
            if self.expect is not None:  # resumed: the loss it stopped at, checked
                if buffers_same and abs(start_loss - self.expect) > 1e-6 * max(
                        1.0, abs(self.expect)):
                    raise NeuronscopeError(self._resume_help(
                        f"the same weights give another loss ({start_loss:.6g} against "
                        f"{self.expect:.6g}): is the evaluation data the same?"))
                pre, self.loss, self.expect = start_loss - self.expect, self.expect, None
            elif self.loss is None:  # the first step: the loss before this step's forward
                self.loss = start_loss if buffers_same else self._loss_with(self.buffers)
                pre = start_loss - self.loss
            elif params_same:  # buffers moved since the last step: by this step's forward
                pre = start_loss - self.loss  # pass, when before_step runs in optimizer.step
            else:
                outside, self.loss = start_loss - self.loss, start_loss
                if not self.warned_outside:
                    logger.warning("the parameters changed between after_step() and "
                                   "before_step() (loss %+.3g); LCA records that change in "
                                   "`outside`, not allocated to any parameter", outside)
                    self.warned_outside = True
            self.start_loss = start_loss
        self.outside, self.pre_buffer, self.in_step = outside, pre, True
        self.buffers = copies(self.model.buffers())

    def after_step(self) -> None:
        """Allocate the step's loss change among the parameters that moved."""
        if not self.in_step:
            raise NeuronscopeError("after_step() without before_step(): call before_step() "
                                   "before the optimizer step")
        assert self.start is not None and self.grad is not None and self.loss is not None
        end = copies(self.params)
        delta = [e.double() - s.double() for e, s in zip(end, self.start, strict=True)]
        end_loss, end_grad = self._measure()
        start_loss, start_grad, within = self.start_loss, self.grad, 0.0
        try:
            if not same(self.model.buffers(), self.buffers):
                self._set(self.start)  # the path with the new buffers; their effect apart
                start_loss, start_grad = self._measure()
                within = start_loss - self.start_loss
            a = allocate(self._grad_at(delta), start_grad, end_grad, delta,
                         end_loss - start_loss, method=self.method,
                         threshold=self.threshold, max_splits=self.max_splits)
        finally:
            self._set(end)
        self.tally.add(self.step, a, loss=self.loss, loss_change=end_loss - self.loss,
                       buffer_change=self.pre_buffer + within, outside=self.outside)
        if self.shards is not None and self.ranks.writer:
            self.shards.add(self.step, a.parts)
        self.step += 1
        self.start, self.grad, self.in_step = end, end_grad, False
        self.loss = self.start_loss = end_loss
        self.buffers = copies(self.model.buffers())
        if self.checkpoint is not None and self.step % self.checkpoint_every == 0:
            self.save_checkpoint()

    def _compare(self) -> tuple[bool, bool]:
        """(parameters, buffers) unchanged since the last step ended (or, resumed, since the
        checkpoint: parameters that differ are refused)."""
        if self.expect is None:
            return (self.start is not None and same(self.params, self.start),
                    same(self.model.buffers(), self.buffers))
        return check_weights(self._fingerprint(), self.fingerprint, len(self.params),
                             self._resume_help)

    def _resume_help(self, what: str) -> str:
        return resume_help(self.checkpoint, self.step, self.expect, what)

    def wrap(self, optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
        """Have `optimizer.step()` call before_step and after_step; returns `optimizer`.
        `unwrap()` takes the hooks off again."""
        self.handles += optimizer_hooks(optimizer, self.before_step, self.after_step)
        return optimizer

    def unwrap(self) -> None:
        """Take off the hooks that `wrap` put on optimizers."""
        for h in self.handles:
            h.remove()
        self.handles = []

    def result(self) -> LCAResult:
        """The allocation of every step so far (the step shards are written out; the
        checkpoint is written only every `checkpoint_every` steps or by
        `save_checkpoint`, so that a look at the result mid-run does not move it)."""
        if self.in_step:
            raise NeuronscopeError("a step is under way: call after_step() first")
        if self.shards is not None:
            self.ranks.on_writer(self.shards.flush)
        return self._result()

    def save_checkpoint(self, res: LCAResult | None = None) -> None:
        """Write the record so far to the checkpoint file (rank 0 writes)."""
        res = res or self._result()

        def write() -> None:
            if self.shards is not None:
                self.shards.flush()
            res.save(self.checkpoint)
        self.ranks.on_writer(write)

    def _result(self) -> LCAResult:
        final = self.loss if self.loss is not None else float("nan")
        if self.data.n_examples is not None:
            self.settings["eval_examples"] = self.data.n_examples
        return self.tally.result(final, self.method, self.settings, self._fingerprint())

    def _loss_with(self, buffers: list[torch.Tensor] | None) -> float:
        """The loss at the current weights with `buffers` in place of the model's own."""
        assert buffers is not None
        with buffers_as(self.model, buffers):
            return self._measure(grad=False)[0]

    def _fingerprint(self) -> torch.Tensor:
        """The parameters' fingerprint rows, then the buffers'."""
        return fingerprint([*self.params, *self.model.buffers()])

    def _measure(self, grad: bool = True) -> tuple[float, list[torch.Tensor]]:
        """The loss and its gradient on the evaluation set, the random state left as it was."""
        return measure(self.model, self.loss_fn, self.data, self.params, grad)

    def _grad_at(self, delta: list[torch.Tensor]):  # noqa: ANN202 - a closure
        assert self.start is not None
        start = self.start

        def grad_at(a: float) -> list[torch.Tensor]:
            self._set([(s.double() + a * d).to(s.dtype) for s, d in zip(start, delta,
                                                                          strict=True)])
            return self._measure()[1]
        return grad_at

    def _set(self, values: list[torch.Tensor]) -> None:
        copy_into(self.params, values)

    def _resume(self, res: LCAResult) -> None:
        check_checkpoint(res, {n: tuple(p.shape) for n, p in self.named}, self.settings,
                         self.checkpoint)
        self.tally.resume(res)
        self.step = res.n_steps
        self.expect = self.loss = float(res.loss[-1])
        self.fingerprint = res.fingerprint
        if self.shards is not None:
            self.shards.drop_from(self.step)
        logger.info("resuming LCA from %s at step %d", self.checkpoint, self.step)
