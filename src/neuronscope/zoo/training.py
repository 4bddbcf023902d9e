"""Training a built-in model from its `Recipe`, and the cache in front of it."""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from neuronscope.core.model import load_weights, save_weights
from neuronscope.core.spec import InputSpec, attach_spec

from .cache import entry_paths, read_json, recipe_hash, write_json
from .recipes import Recipe, recipe

logger = logging.getLogger(__name__)

_EVAL_BATCH = 500


def load_split(
    dataset: str, split: str, n: int | None = None
) -> tuple[Any, torch.Tensor, torch.Tensor]:
    """(dataset object, X, y) of a built-in dataset split, cut to its first `n` items."""
    from neuronscope import data

    if n is None:
        ds = data.load(dataset, split=split)
    else:
        try:  # generated datasets make only the items asked for
            ds = data.load(dataset, split=split, n=n)
        except TypeError:
            ds = data.load(dataset, split=split)
    X, y = ds.tensors()
    if n is not None:
        X, y = X[:n], y[:n]
    return ds, X, y


def augment(x: torch.Tensor, r: Recipe, g: torch.Generator) -> torch.Tensor:
    """Apply the recipe's training augmentations to a batch, drawing from `g`."""
    b = x.shape[0]

    def coin() -> torch.Tensor:
        return (torch.rand(b, generator=g) < 0.5).view(b, 1, 1, 1)

    if r.dihedral:
        if x.shape[-1] != x.shape[-2]:
            raise ValueError(f"dihedral augmentation needs square images, got {tuple(x.shape)}")
        x = torch.where(coin(), x.transpose(-1, -2), x)
        x = torch.where(coin(), x.flip(-2), x)
    if r.flip or r.dihedral:
        x = torch.where(coin(), x.flip(-1), x)
    if r.shift > 0:
        s, (h, w) = r.shift, x.shape[-2:]
        padded = F.pad(x, [s, s, s, s], mode="replicate")
        dy = torch.randint(0, 2 * s + 1, (b,), generator=g).tolist()
        dx = torch.randint(0, 2 * s + 1, (b,), generator=g).tolist()
        x = torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(b)])
    return x.contiguous()


@torch.no_grad()
def accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    """Top-1 accuracy of `model` (run in eval mode) on (X, y).

    Example:
        >>> m = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
        >>> 0.0 <= accuracy(m, torch.zeros(3, 1, 2, 2), torch.tensor([0, 1, 0])) <= 1.0
        True
    """
    was_training = model.training
    model.eval()
    correct = 0
    for i in range(0, len(y), _EVAL_BATCH):
        correct += int((model(X[i:i + _EVAL_BATCH]).argmax(1) == y[i:i + _EVAL_BATCH]).sum())
    model.train(was_training)
    return correct / max(1, len(y))


def _optimizer(r: Recipe, model: nn.Module) -> torch.optim.Optimizer:
    params = model.parameters()
    if r.optimizer == "sgd":
        return torch.optim.SGD(params, lr=r.lr, momentum=r.momentum,
                               weight_decay=r.weight_decay, nesterov=r.momentum > 0)
    if r.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=r.lr, weight_decay=r.weight_decay)
    return torch.optim.Adam(params, lr=r.lr, weight_decay=r.weight_decay)


def _scheduler(r: Recipe, opt: torch.optim.Optimizer, total: int) -> Any:
    if r.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=r.lr, total_steps=total)
    if r.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total)
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)


def fit(r: Recipe, model: nn.Module, progress: bool = True) -> tuple[dict[str, Any], InputSpec]:
    """Train `model` in place by recipe `r` and evaluate it: (metrics, input spec).

    Uses the global torch RNG (dropout) as it finds it; `train` seeds it.
    """
    from tqdm.auto import tqdm

    start = time.perf_counter()
    train_ds, X, y = load_split(r.dataset, "train", r.n_train)
    test_ds, Xt, yt = load_split(r.dataset, "test", r.n_test)
    classes = list(train_ds.classes)
    if len(classes) != r.n_classes:
        raise ValueError(
            f"recipe {r.name!r} expects {r.n_classes} classes but dataset {r.dataset!r} "
            f"has {len(classes)}: {classes}"
        )
    data_seconds = time.perf_counter() - start
    g = torch.Generator().manual_seed(r.seed)
    n = len(y)
    steps = max(1, n // r.batch_size)  # the shuffled remainder is dropped (batch norm)
    opt = _optimizer(r, model)
    sched = _scheduler(r, opt, r.epochs * steps)
    logger.info("training %s on %d %s items for %d epochs (%d threads)",
                r.name, n, r.dataset, r.epochs, torch.get_num_threads())
    model.train()
    loss_value = float("nan")
    with tqdm(total=r.epochs * steps, desc=f"training {r.name}", unit="batch",
              disable=not progress, leave=False, mininterval=0.5) as bar:
        for epoch in range(r.epochs):
            epoch_start = time.perf_counter()
            perm = torch.randperm(n, generator=g)
            total = 0.0
            for i in range(steps):
                idx = perm[i * r.batch_size:(i + 1) * r.batch_size]
                xb = augment(X[idx], r, g)
                loss = F.cross_entropy(model(xb), y[idx], label_smoothing=r.label_smoothing)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                total += loss.detach().item()
                bar.update(1)
            loss_value = total / steps
            bar.set_postfix(epoch=epoch + 1, loss=f"{loss_value:.3f}")
            logger.debug("%s epoch %d/%d: loss %.4f (%.1f s)", r.name, epoch + 1, r.epochs,
                         loss_value, time.perf_counter() - epoch_start)
    if not math.isfinite(loss_value):
        raise RuntimeError(f"training {r.name!r} diverged (loss {loss_value}); lower the lr")
    model.eval()
    metrics = {
        "test_accuracy": accuracy(model, Xt, yt),
        "train_accuracy": accuracy(model, X, y),
        "final_loss": loss_value,
        "n_train": n,
        "n_test": len(yt),
        "seconds": time.perf_counter() - start,
        "data_seconds": data_seconds,
        "threads": torch.get_num_threads(),
    }
    logger.info("trained %s: test accuracy %.4f, train accuracy %.4f, %.1f s",
                r.name, metrics["test_accuracy"], metrics["train_accuracy"], metrics["seconds"])
    spec = InputSpec.from_json(test_ds.spec.to_json())
    spec.class_names = classes
    return metrics, spec


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
    name: str, *, progress: bool = True, retrain: bool = False, **overrides: Any
) -> tuple[nn.Module, dict[str, Any]]:
    """Train built-in model `name` (or take it from the cache): (model in eval mode, metrics).

    `overrides` replace recipe fields (``epochs=1``, ``n_train=64``, ``lr=...``); a
    changed recipe is a different cache entry. Metrics: ``test_accuracy``,
    ``train_accuracy``, ``seconds`` (of the original training), ``cache_path``,
    ``cached`` (True when nothing was trained now), and more; they are also kept on the
    model as ``model.zoo_metrics``. The global torch RNG is
    seeded from the recipe inside a fork, so the caller's RNG state is left unchanged.

    Example:
        >>> model, metrics = train("digits-mlp", progress=False)  # doctest: +SKIP
        >>> metrics["test_accuracy"] > 0.9  # doctest: +SKIP
        True
    """
    r = recipe(name)
    if overrides:
        r = r.replace(**overrides)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(r.seed)
        model = r.builder(r.n_classes)
        key = recipe_hash(r, model)
        weights, meta = entry_paths(r.name, key)
        if not retrain:
            cached = _from_cache(model, weights, meta)
            if cached is not None:
                logger.info("loaded %s from cache %s", r.name, weights)
                model.zoo_metrics = cached
                return model.eval(), cached
        metrics, spec = fit(r, model, progress=progress)
    save_weights(model, weights)
    metrics = {**metrics, "hash": key, "torch_version": torch.__version__}
    write_json(meta, {"recipe": r.fields(), "metrics": metrics, "spec": spec.to_json(),
                      "torch_version": torch.__version__, "architecture": repr(model)})
    attach_spec(model, spec)
    metrics = {**metrics, "cached": False, "cache_path": str(weights)}
    model.zoo_metrics = metrics
    return model.eval(), metrics


def load(
    name: str, *, progress: bool = True, retrain: bool = False,
    device: torch.device | str | None = None,
) -> nn.Module:
    """Built-in model `name` in eval mode with its `InputSpec`; trained on first use, cached.

    Example:
        >>> model = load("digits-mlp", progress=False)  # doctest: +SKIP
        >>> model.input_spec.class_names[:3]  # doctest: +SKIP
        ['0', '1', '2']
    """
    model, _ = train(name, progress=progress, retrain=retrain)
    if device is not None:
        model.to(device)
    return model.eval()
