"""Training a built-in model from its `Recipe` through its `Task`, and the cache in front of it.

`fit` is the one training loop: the recipe's task (`neuronscope.zoo.tasks`) supplies
data, batches, loss and evaluation; callbacks (`neuronscope.zoo.callbacks`) see every
step. ``augment``, ``accuracy`` and ``load_split`` live in `neuronscope.zoo.classify`
and are importable from here too.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from neuronscope.core.model import load_weights, save_weights
from neuronscope.core.spec import InputSpec, attach_spec

from .cache import entry_paths, read_json, recipe_hash, write_json
from .callbacks import TrainState, check_callbacks, run_callbacks
from .classify import accuracy, augment, load_split
from .recipes import Recipe, recipe
from .tasks import get_task

__all__ = ["accuracy", "augment", "fit", "load", "load_split", "optimizer_for", "scheduler_for",
           "train"]

logger = logging.getLogger(__name__)


def optimizer_for(r: Recipe, model: nn.Module) -> torch.optim.Optimizer:
    """The optimizer recipe `r` names, over `model`'s parameters.

    Example:
        >>> type(optimizer_for(recipe("digits-mlp"), nn.Linear(2, 1))).__name__
        'Adam'
    """
    params = model.parameters()
    if r.optimizer == "sgd":
        return torch.optim.SGD(params, lr=r.lr, momentum=r.momentum,
                               weight_decay=r.weight_decay, nesterov=r.momentum > 0)
    if r.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=r.lr, weight_decay=r.weight_decay)
    return torch.optim.Adam(params, lr=r.lr, weight_decay=r.weight_decay)


def scheduler_for(r: Recipe, opt: torch.optim.Optimizer, total: int) -> Any:
    """The learning-rate schedule recipe `r` names, over `total` steps."""
    if r.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=r.lr, total_steps=total)
    if r.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total)
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)


def _run_epoch(state: TrainState, train_data: Any, g: torch.Generator, steps: int,
               bar: Any, callbacks: Sequence[Any]) -> float:
    """One epoch of `state.task`'s batches; the mean batch loss."""
    r, task, opt = state.recipe, state.task, state.optimizer
    total, count = 0.0, 0
    for batch in task.batches(train_data, r, g):
        if count == steps:
            raise ValueError(f"task {r.task!r} yielded more than the {steps} batches per "
                             "epoch its n_batches() promised (the lr schedule is sized by it)")
        state.batch, state.loss = batch, None
        run_callbacks(callbacks, "before_step", state)
        loss = task.loss(state.model, batch, r)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        state.loss = loss
        run_callbacks(callbacks, "after_step", state)
        state.scheduler.step()
        total += loss.detach().item()
        count += 1
        state.step += 1
        bar.update(1)
    if count != steps:
        raise ValueError(f"task {r.task!r} yielded {count} batches in an epoch but its "
                         f"n_batches() promised {steps} (the lr schedule is sized by it)")
    return total / steps


def _summary(scores: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                     for k, v in scores.items())


def fit(
    r: Recipe, model: nn.Module, progress: bool = True, callbacks: Sequence[Any] = ()
) -> tuple[dict[str, Any], InputSpec]:
    """Train `model` in place by recipe `r` and its task, and evaluate it: (metrics, input spec).

    Metrics are the task's evaluation plus ``final_loss`` (mean batch loss of the last
    epoch), ``seconds``, ``data_seconds`` and ``threads``. `callbacks` see every step
    (see `neuronscope.zoo.callbacks`). Uses the global torch RNG (dropout) as it finds
    it; `train` seeds it.

    Example:
        >>> from neuronscope.zoo.callbacks import Callback
        >>> class Steps(Callback):
        ...     n = 0
        ...     def after_step(self, state): self.n += 1
        >>> r = recipe("digits-mlp").replace(n_train=64, n_test=32, epochs=2)
        >>> steps = Steps()
        >>> metrics, spec = fit(r, r.builder(10), progress=False, callbacks=[steps])
        >>> steps.n, metrics["n_train"], spec.shape
        (4, 64, (1, 8, 8))
    """
    from tqdm.auto import tqdm

    task, callbacks = get_task(r.task), tuple(callbacks)
    check_callbacks(callbacks)
    start = time.perf_counter()
    train_data, test_data, spec = task.load(r)
    data_seconds = time.perf_counter() - start
    g = torch.Generator().manual_seed(r.seed)
    steps = task.n_batches(train_data, r)
    opt = optimizer_for(r, model)
    state = TrainState(model, opt, scheduler_for(r, opt, r.epochs * steps), r, task)
    logger.info("training %s (task %s) on %s, %d batches per epoch for %d epochs (%d threads)",
                r.name, r.task, r.dataset, steps, r.epochs, torch.get_num_threads())
    model.train()
    run_callbacks(callbacks, "on_train_start", state)
    loss_value = float("nan")
    with tqdm(total=r.epochs * steps, desc=f"training {r.name}", unit="batch",
              disable=not progress, leave=False, mininterval=0.5) as bar:
        for epoch in range(r.epochs):
            state.epoch, epoch_start = epoch, time.perf_counter()
            loss_value = _run_epoch(state, train_data, g, steps, bar, callbacks)
            state.metrics["epoch_loss"] = loss_value
            bar.set_postfix(epoch=epoch + 1, loss=f"{loss_value:.3f}")
            logger.debug("%s epoch %d/%d: loss %.4f (%.1f s)", r.name, epoch + 1, r.epochs,
                         loss_value, time.perf_counter() - epoch_start)
            run_callbacks(callbacks, "on_epoch_end", state)
    if not math.isfinite(loss_value):
        raise RuntimeError(f"training {r.name!r} diverged (loss {loss_value}); lower the lr")
    model.eval()
    scores = task.evaluate(model, train_data, test_data)
    state.metrics = {**scores, "final_loss": loss_value, "seconds": time.perf_counter() - start,
                     "data_seconds": data_seconds, "threads": torch.get_num_threads()}
    logger.info("trained %s: %s, %.1f s", r.name, _summary(scores), state.metrics["seconds"])
    run_callbacks(callbacks, "on_train_end", state)
    return state.metrics, spec


def _from_cache(model: nn.Module, weights: Path, meta: Path) -> dict[str, Any] | None:
    info = read_json(meta)
    if info is None or not weights.is_file():
        return None
    try:
        load_weights(model, weights)
        spec = InputSpec.from_json(info["spec"])
    except Exception as exc:  # a damaged entry is retrained, not fatal
        logger.warning("ignoring damaged cache entry %s (%s); retraining", weights, exc)
        return None
    attach_spec(model, spec)
    return {**info.get("metrics", {}), "cached": True, "cache_path": str(weights)}


def train(
    name: str, *, progress: bool = True, retrain: bool = False,
    callbacks: Sequence[Any] = (), **overrides: Any,
) -> tuple[nn.Module, dict[str, Any]]:
    """Train built-in model `name` (or take it from the cache): (model in eval mode, metrics).

    `overrides` replace recipe fields (``epochs=1``, ``n_train=64``, ``lr=...``); a
    changed recipe is a different cache entry. Metrics: ``test_accuracy``,
    ``train_accuracy``, ``seconds`` (of the original training), ``cache_path``,
    ``cached`` (True when nothing was trained now), and more; they are also kept on the
    model as ``model.zoo_metrics``. The global torch RNG is
    seeded from the recipe inside a fork, so the caller's RNG state is left unchanged.

    With `callbacks` (see `fit`) the cache is neither read nor written: the model is
    trained now, so the callbacks see every step, and ``cache_path`` is None. Callbacks
    that only observe give the same weights as the cached model.

    Example:
        >>> model, metrics = train("digits-mlp", progress=False)  # doctest: +SKIP
        >>> metrics["test_accuracy"] > 0.9  # doctest: +SKIP
        True
    """
    r = recipe(name)
    if overrides:
        r = r.replace(**overrides)
    get_task(r.task)  # an unknown task fails before anything is built
    callbacks = tuple(callbacks)
    use_cache = not callbacks
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(r.seed)
        model = r.builder(r.n_classes)
        key = recipe_hash(r, model)
        weights, meta = entry_paths(r.name, key)
        if use_cache and not retrain:
            cached = _from_cache(model, weights, meta)
            if cached is not None:
                logger.info("loaded %s from cache %s", r.name, weights)
                model.zoo_metrics = cached
                return model.eval(), cached
        metrics, spec = fit(r, model, progress=progress, callbacks=callbacks)
    metrics = {**metrics, "hash": key, "torch_version": torch.__version__}
    if use_cache:
        save_weights(model, weights)
        write_json(meta, {"recipe": r.fields(), "metrics": metrics, "spec": spec.to_json(),
                          "torch_version": torch.__version__, "architecture": repr(model)})
    attach_spec(model, spec)
    metrics = {**metrics, "cached": False, "cache_path": str(weights) if use_cache else None}
    model.zoo_metrics = metrics
    return model.eval(), metrics


def load(
    name: str, *, progress: bool = True, retrain: bool = False,
    device: torch.device | str | None = None,
) -> nn.Module:
    """Built-in model `name` in eval mode with its `InputSpec`: pretrained ones from their
    packaged weights, the others trained on first use and cached.

    Example:
        >>> model = load("digits-mlp", progress=False)  # doctest: +SKIP
        >>> model.input_spec.class_names[:3]  # doctest: +SKIP
        ['0', '1', '2']
    """
    from .pretrained import PRETRAINED

    if name in PRETRAINED:
        model = PRETRAINED[name].build()
    else:
        model, _ = train(name, progress=progress, retrain=retrain)
    if device is not None:
        model.to(device)
    return model.eval()
