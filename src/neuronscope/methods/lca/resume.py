"""Resuming an `LCA` run (tracker.py) from its checkpoint file: the checks that the
checkpoint was made for this model with these settings (`check_checkpoint`), that the
model has the weights it had when the checkpoint was saved (`check_weights`), and the
help given when it has not (`resume_help`). Each check raises a `NeuronscopeError`
that says what differs and what to do.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from neuronscope.core.errors import NeuronscopeError

from .result import LCAResult

SETTINGS = ("method", "error_threshold", "max_splits", "eval_batches")  # must match to resume


def check_checkpoint(res: LCAResult, shapes: dict[str, tuple[int, ...]],
                     settings: dict[str, Any], checkpoint: Path | None) -> None:
    """Raise unless the record `res` (read from `checkpoint`) is of a model with these
    parameter `shapes`, made with the same `settings` (those in ``SETTINGS``)."""
    stored = {n: tuple(c.shape) for n, c in res.cumulative.items()}
    if shapes != stored:
        raise NeuronscopeError(f"the LCA checkpoint {checkpoint} is of another model "
                               f"(parameters {sorted(stored)[:4]}...): give another file")
    for key in SETTINGS:
        if res.settings.get(key) != settings[key]:
            raise NeuronscopeError(
                f"the LCA checkpoint {checkpoint} was made with {key}="
                f"{res.settings.get(key)!r}, this run has {settings[key]!r}: resume "
                "with the same settings and evaluation data, or give another file")


def check_weights(now: torch.Tensor, then: torch.Tensor, n_params: int,
                  help_for: Callable[[str], str]) -> tuple[bool, bool]:
    """(parameters, buffers) the same as at the checkpoint, by the fingerprints `now` and
    `then` (the first `n_params` rows the parameters', the rest the buffers'): parameters
    that differ raise, with ``help_for(what differs)`` as the message."""
    n = n_params
    if now.shape != then.shape or not torch.allclose(now[:n], then[:n], rtol=1e-9,
                                                     atol=1e-12):
        raise NeuronscopeError(help_for("the model has other weights"))
    return True, torch.allclose(now[n:], then[n:], rtol=1e-9, atol=1e-12)


def resume_help(checkpoint: Path | None, step: int, expect: float | None, what: str) -> str:
    """The message when a resumed run does not match its checkpoint (at `step`, with the
    loss `expect` after it): `what` differs, and how to resume."""
    return (f"the LCA checkpoint {checkpoint} holds steps 0 to {step - 1} (its "
            f"loss after them: {expect:.6g}), but {what}. Resume with the model and "
            f"optimizer as they were after step {step - 1} (saved when lca.step was "
            f"{step}), or give another checkpoint file")
