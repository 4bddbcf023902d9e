"""`train_with_lca`: train a model from scratch with loss change allocation on every step.

A built-in model (by name) is trained by the zoo's recipe (`neuronscope.zoo.recipes`),
any field replaced (``optimizer="sgd"``, ``lr=...``); a model of your own (an
``nn.Module``, trained in place) on a labelled dataset with cross-entropy on its logits.
The evaluation set is the whole training set without augmentation, as in the paper.
With `out`, the run keeps a checkpoint there at every epoch's end and a run killed part
way resumes from it when started again with the same arguments (`neuronscope.methods.
lca.loop`); the result is saved as ``out/lca.safetensors``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from neuronscope.core.errors import NeuronscopeError

from .loop import CHECKPOINT, RESULT, STATE, Run, train
from .result import LCAResult
from .tracker import LCA

__all__ = ["CHECKPOINT", "RESULT", "STATE", "train_with_lca"]
OWN = {"optimizer": "sgd", "lr": 0.01, "momentum": 0.0, "weight_decay": 0.0, "batch_size": 32,
       "seed": 0}  # a model of your own: these settings, replaced by `overrides`


def train_with_lca(model: str | nn.Module, *, data: Any = None, epochs: int | None = None,
                   out: str | Path | None = None, method: str = "simpson",
                   error_threshold: float = 0.01, max_splits: int = 2,
                   eval_size: int | None = None, per_step: bool = False,
                   nesterov: bool = True, progress: bool = True, **overrides: Any
                   ) -> tuple[nn.Module, LCAResult]:
    """Train `model` for `epochs` with LCA on every step: (trained model in eval mode,
    `LCAResult`).

    `model` is a zoo name, trained by its recipe (`overrides` replace recipe fields, e.g.
    ``optimizer="sgd", momentum=0.9, lr=0.05``), or an ``nn.Module`` of yours, trained in
    place on `data` (a labelled Dataset: items ``(input, label)``) with the cross-entropy
    of its logits (``neuronscope.core.model.logits_of``) by the settings in ``OWN``
    (``optimizer`` sgd / adam / adamw, ``lr``, ``momentum``, ``weight_decay``,
    ``batch_size``, ``seed``), replaced by `overrides`. `eval_size` cuts the evaluation
    set (the training set) to its first items; `per_step` (with `out`) also streams every
    step's per-parameter allocation to ``out/steps``. SGD with momentum is Nesterov's, as
    the zoo trains; ``nesterov=False`` gives plain (heavy-ball) momentum, as in the paper.

    Example:
        >>> model, res = train_with_lca("digits-mlp", epochs=1, n_train=64, progress=False)
        >>> res.n_steps, sorted(res.by_layer)
        (2, ['fc1', 'fc2', 'fc3'])
    """
    if epochs is not None and int(epochs) < 1:
        raise ValueError(f"epochs must be 1 or more, got {epochs}")
    folder = Path(out) if out is not None else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    settings = {"method": method, "eval_size": eval_size, "nesterov": bool(nesterov)}
    with torch.random.fork_rng(devices=[]):
        if isinstance(model, nn.Module):
            run, evals, spec = _own(model, data, epochs, overrides, settings)
        else:
            run, evals, spec = _built_in(str(model), epochs, overrides, settings)
        for group in run.optimizer.param_groups:
            if "nesterov" in group:
                group["nesterov"] = bool(nesterov) and group["momentum"] > 0
        lca = LCA(run.model, run.loss, evals, method=method, error_threshold=error_threshold,
                  max_splits=max_splits,
                  per_step=folder / "steps" if per_step and folder is not None else None,
                  checkpoint=folder / CHECKPOINT if folder is not None else None,
                  checkpoint_every=2**62)  # saved with the training state at epoch ends
        train(run, lca, folder, progress)
    if spec is not None:
        from neuronscope.core.spec import attach_spec

        attach_spec(run.model, spec)
    res = lca.result()
    res.settings.update(model=run.name, recipe=run.fields,
                        nesterov=any(g.get("nesterov", False) for g in run.optimizer.param_groups))
    if folder is not None:
        res.save(folder / RESULT)
    return run.model, res


def _plain(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if isinstance(v, (int, float, str, bool))}


def _eval_batches(X: torch.Tensor, y: torch.Tensor, eval_size: int | None) -> list[Any]:
    X, y = (X, y) if eval_size is None else (X[:eval_size], y[:eval_size])
    return [(X[i:i + 512], y[i:i + 512]) for i in range(0, len(y), 512)]


def _built_in(name: str, epochs: int | None, overrides: dict[str, Any],
              settings: dict[str, Any]) -> tuple[Run, list[Any], Any]:
    from neuronscope.zoo.recipes import recipe
    from neuronscope.zoo.tasks import get_task
    from neuronscope.zoo.training import optimizer_for, scheduler_for

    r = recipe(name).replace(**overrides, **({"epochs": epochs} if epochs is not None else {}))
    task = get_task(r.task)
    train_data, _, spec = task.load(r)
    if not (isinstance(train_data, tuple) and len(train_data) == 2
            and all(isinstance(t, torch.Tensor) for t in train_data)):
        raise NeuronscopeError(f"train_with_lca needs a recipe whose training data are (inputs, "
                               f"labels) tensors; {name!r} (task {r.task!r}) has "
                               f"{type(train_data).__name__}")
    torch.manual_seed(r.seed)
    model = r.builder(r.n_classes)
    steps = task.n_batches(train_data, r)
    opt = optimizer_for(r, model)
    run = Run(name, model, opt, scheduler_for(r, opt, r.epochs * steps),
              lambda g: task.batches(train_data, r, g), lambda m, b: task.loss(m, b, r),
              r.epochs, steps, r.seed, {**_plain(r.fields()), **settings})
    return run, _eval_batches(*train_data, settings["eval_size"]), spec


def _own(model: nn.Module, data: Any, epochs: int | None, overrides: dict[str, Any],
         settings: dict[str, Any]) -> tuple[Run, list[Any], Any]:
    from neuronscope.core.data import batch_input, batch_labels, loader
    from neuronscope.core.model import logits_of
    from neuronscope.core.spec import input_spec

    unknown = sorted(set(overrides) - set(OWN))
    if unknown:
        raise TypeError(f"train_with_lca got {unknown} for a model of your own; its settings "
                        f"are {sorted(OWN)} (recipe fields belong to built-in models)")
    if data is None or epochs is None:
        raise NeuronscopeError("a model of your own needs data= (a labelled Dataset of "
                               "(input, label) items) and epochs=")
    o = {**OWN, **overrides}
    if o["optimizer"] not in ("sgd", "adam", "adamw"):
        raise ValueError(f"optimizer must be sgd, adam or adamw, got {o['optimizer']!r}")
    batches = list(loader(data, 512))
    X = torch.cat([torch.as_tensor(batch_input(b)) for b in batches])
    y = torch.cat([batch_labels(b) for b in batches]).long()
    size, params = int(o["batch_size"]), model.parameters()
    opt = {"sgd": lambda: torch.optim.SGD(params, lr=o["lr"], momentum=o["momentum"],
                                          weight_decay=o["weight_decay"]),
           "adam": lambda: torch.optim.Adam(params, lr=o["lr"], weight_decay=o["weight_decay"]),
           "adamw": lambda: torch.optim.AdamW(params, lr=o["lr"],
                                              weight_decay=o["weight_decay"])}[o["optimizer"]]()

    def epoch(g: torch.Generator):  # noqa: ANN202 - a generator of (inputs, labels)
        order = torch.randperm(len(y), generator=g)
        for i in range(0, len(y), size):
            yield X[order[i:i + size]], y[order[i:i + size]]

    def loss(m: nn.Module, b: Any) -> torch.Tensor:
        return nn.functional.cross_entropy(logits_of(m(b[0])), b[1])

    torch.manual_seed(int(o["seed"]))
    run = Run(type(model).__name__, model, opt, torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: 1.0), epoch, loss, int(epochs), -(-len(y) // size), int(o["seed"]),
        {**o, "epochs": int(epochs), "n_train": len(y), "schedule": "constant", **settings})
    return run, _eval_batches(X, y, settings["eval_size"]), input_spec(model)
