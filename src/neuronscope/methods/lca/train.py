"""`train_with_lca`: train a built-in model from scratch with loss change allocation.

The model, data, loss and schedule come from the zoo's recipe (`neuronscope.zoo.recipes`),
with any field replaced (``optimizer="sgd"``, ``lr=...``, ``epochs=...``); the
evaluation set is the whole training set without augmentation, as in the paper. With
`out`, the run keeps a checkpoint there at every epoch's end (model, optimizer, schedule,
data order and the LCA record) and a run killed part way resumes from it when started
again with the same arguments; the result is saved as ``out/lca.safetensors``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from neuronscope.core.errors import NeuronscopeError
from neuronscope.core.files import atomic_path

from .result import LCAResult
from .tracker import LCA

logger = logging.getLogger(__name__)

RESULT, CHECKPOINT, STATE = "lca.safetensors", "lca-checkpoint.safetensors", "train-state.pt"


def train_with_lca(name: str, *, epochs: int | None = None, out: str | Path | None = None,
                   method: str = "simpson", error_threshold: float = 0.01,
                   max_splits: int = 2, eval_size: int | None = None,
                   per_step: bool = False, nesterov: bool = True, progress: bool = True,
                   **overrides: Any
                   ) -> tuple[nn.Module, LCAResult]:
    """Train zoo model `name` by its recipe (fields replaced by `overrides`, e.g.
    ``optimizer="sgd", momentum=0.9, lr=0.05``) for `epochs`, with LCA on every step:
    (trained model in eval mode, `LCAResult`). `eval_size` cuts the evaluation set (the
    training set) to its first items; `per_step` (with `out`) also streams every step's
    per-parameter allocation to ``out/steps``. SGD with momentum is Nesterov's, as the
    zoo trains; ``nesterov=False`` gives plain (heavy-ball) momentum, as in the paper.

    Example:
        >>> model, res = train_with_lca("digits-mlp", epochs=1, n_train=64, progress=False)
        >>> res.n_steps, sorted(res.by_layer)
        (2, ['fc1', 'fc2', 'fc3'])
    """
    from tqdm.auto import tqdm

    from neuronscope.core.spec import attach_spec
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
    X, y = train_data if eval_size is None else (t[:eval_size] for t in train_data)
    eval_batches = [(X[i:i + 512], y[i:i + 512]) for i in range(0, len(y), 512)]
    folder = Path(out) if out is not None else None
    run = {**r.fields(), "nesterov": bool(nesterov), "method": method, "eval_size": eval_size}
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(r.seed)
        model = r.builder(r.n_classes)
        steps = task.n_batches(train_data, r)
        opt = optimizer_for(r, model)
        for group in opt.param_groups:
            if "nesterov" in group:
                group["nesterov"] = bool(nesterov) and group["momentum"] > 0
        sched = scheduler_for(r, opt, r.epochs * steps)
        g = torch.Generator().manual_seed(r.seed)
        lca = LCA(model, lambda m, b: task.loss(m, b, r), eval_batches, method=method,
                  error_threshold=error_threshold, max_splits=max_splits,
                  per_step=folder / "steps" if per_step and folder is not None else None,
                  checkpoint=folder / CHECKPOINT if folder is not None else None,
                  checkpoint_every=2**62)  # saved with the training state at epoch ends
        first = _resume(folder, model, opt, sched, g, lca, run) if folder else 0
        model.train()
        with tqdm(total=r.epochs * steps, initial=first * steps, desc=f"training {name} + LCA",
                  unit="step", disable=not progress, leave=False) as bar:
            for epoch in range(first, r.epochs):
                for batch in task.batches(train_data, r, g):
                    lca.before_step()
                    loss = task.loss(model, batch, r)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    lca.after_step()
                    sched.step()
                    bar.update(1)
                    bar.set_postfix(loss=f"{lca.loss:.4f}", refresh=False)
                if folder is not None:
                    _save(folder, model, opt, sched, g, lca, epoch + 1, run)
    model.eval()
    attach_spec(model, spec)
    res = lca.result()
    res.settings.update(model=name, recipe=_plain(r.fields()),
                        nesterov=any(g.get("nesterov", False) for g in opt.param_groups))
    if folder is not None:
        res.save(folder / RESULT)
    return model, res


def _plain(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if isinstance(v, (int, float, str, bool))}


def _save(folder: Path, model: nn.Module, opt: Any, sched: Any, g: torch.Generator,
          lca: LCA, epochs_done: int, fields: dict[str, Any]) -> None:
    lca.save_checkpoint()
    state = {"model": model.state_dict(), "optimizer": opt.state_dict(),
             "scheduler": sched.state_dict(), "generator": g.get_state(),
             "rng": torch.get_rng_state(),
             "epochs_done": epochs_done, "lca_steps": lca.step, "recipe": _plain(fields)}
    with atomic_path(folder / STATE) as tmp:
        torch.save(state, tmp)


def _resume(folder: Path, model: nn.Module, opt: Any, sched: Any, g: torch.Generator,
            lca: LCA, fields: dict[str, Any]) -> int:
    """Epochs already done by a run that stopped in `folder` (0 for a new run)."""
    path = folder / STATE
    if not path.is_file():
        if lca.step:
            raise NeuronscopeError(f"{folder} holds an LCA checkpoint without its training "
                                   f"state ({STATE}); give an empty folder")
        return 0
    state = torch.load(path, weights_only=True)
    if state["recipe"] != _plain(fields):
        raise NeuronscopeError(f"{folder} holds a run with other settings; give the same "
                               "arguments to resume it, or another folder")
    if state["lca_steps"] != lca.step:
        raise NeuronscopeError(f"{folder}: the training state is at step {state['lca_steps']} "
                               f"but the LCA checkpoint at step {lca.step}; give a new folder")
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    g.set_state(state["generator"])
    torch.set_rng_state(state["rng"])  # dropout goes on as in an unbroken run
    logger.info("resuming %s after epoch %d (step %d)", folder, state["epochs_done"], lca.step)
    return int(state["epochs_done"])
