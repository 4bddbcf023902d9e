"""The resumable training loop behind `train_with_lca`: epochs of an optimizer over
shuffled batches, LCA on every step, and with a folder a checkpoint at every epoch's end
(model, optimizer, schedule, data order, random state and the LCA record), from which a
run killed part way goes on as if it had not stopped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from neuronscope.core.errors import NeuronscopeError
from neuronscope.core.files import atomic_path

from .tracker import LCA

logger = logging.getLogger(__name__)

RESULT, CHECKPOINT, STATE = "lca.safetensors", "lca-checkpoint.safetensors", "train-state.pt"


@dataclass
class Run:
    """What one training run is: the model and its optimizer and schedule, the batches of
    an epoch (drawn from the generator), the loss of a batch, and the settings that must
    match for a checkpoint to be resumed (``fields``: plain values)."""

    name: str
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    batches: Callable[[torch.Generator], Iterator[Any]]
    loss: Callable[[nn.Module, Any], torch.Tensor]
    epochs: int
    steps: int
    seed: int
    fields: dict[str, Any]


def train(run: Run, lca: LCA, folder: Path | None, progress: bool) -> None:
    """Train `run` with `lca` on every step; with `folder`, resume from and checkpoint to it."""
    from tqdm.auto import tqdm

    g = torch.Generator().manual_seed(run.seed)
    first = _resume(folder, run, g, lca) if folder is not None else 0
    run.model.train()
    with tqdm(total=run.epochs * run.steps, initial=first * run.steps, unit="step",
              desc=f"training {run.name} + LCA", disable=not progress, leave=False) as bar:
        for epoch in range(first, run.epochs):
            for batch in run.batches(g):
                lca.before_step()
                loss = run.loss(run.model, batch)
                run.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                run.optimizer.step()
                lca.after_step()
                run.scheduler.step()
                bar.update(1)
                bar.set_postfix(loss=f"{lca.loss:.4f}", refresh=False)
            if folder is not None:
                _save(folder, run, g, lca, epoch + 1)
    run.model.eval()


def _save(folder: Path, run: Run, g: torch.Generator, lca: LCA, epochs_done: int) -> None:
    lca.save_checkpoint()
    state = {"model": run.model.state_dict(), "optimizer": run.optimizer.state_dict(),
             "scheduler": run.scheduler.state_dict(), "generator": g.get_state(),
             "rng": torch.get_rng_state(), "epochs_done": epochs_done, "lca_steps": lca.step,
             "recipe": run.fields}
    with atomic_path(folder / STATE) as tmp:
        torch.save(state, tmp)


def _resume(folder: Path, run: Run, g: torch.Generator, lca: LCA) -> int:
    """Epochs already done by a run that stopped in `folder` (0 for a new run)."""
    path = folder / STATE
    if not path.is_file():
        if lca.step:
            raise NeuronscopeError(f"{folder} holds an LCA checkpoint without its training "
                                   f"state ({STATE}); give an empty folder")
        return 0
    state = torch.load(path, weights_only=True)
    if state["recipe"] != run.fields:
        differ = sorted(k for k in {*state["recipe"], *run.fields}
                        if state["recipe"].get(k) != run.fields.get(k))
        raise NeuronscopeError(f"{folder} holds a run with other settings ({', '.join(differ)})"
                               "; give the same arguments to resume it, or another folder")
    if state["lca_steps"] != lca.step:
        raise NeuronscopeError(f"{folder}: the training state is at step {state['lca_steps']} "
                               f"but the LCA checkpoint at step {lca.step}; give a new folder")
    run.model.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    g.set_state(state["generator"])
    torch.set_rng_state(state["rng"])  # dropout goes on as in an unbroken run
    logger.info("resuming %s after epoch %d (step %d)", folder, state["epochs_done"], lca.step)
    return int(state["epochs_done"])
