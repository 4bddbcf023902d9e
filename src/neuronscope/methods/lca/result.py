"""`LCAResult`: what loss change allocation found over a run, step by step and per layer.

Per step t (all float64 tensors [T]): ``loss`` before the step, ``loss_change`` (the
measured L(t+1) - L(t) on the evaluation set), ``total`` (the sum of the parameters'
allocations), ``buffer_change`` (what the step's change of buffers, such as batch-norm
running statistics, did to the loss: not a parameter's doing, so not allocated),
``outside`` (a change of the parameters between one step's end and the next step's
start, made outside the optimizer step; 0 normally) and ``error`` (loss_change - total
- buffer_change). Negative allocation helps (lowers the loss), positive hurts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from neuronscope.core.result import Result


@dataclass(eq=False)  # tensors: compare fields one by one
class LCAResult(Result):
    """Loss change allocation of a training run (see the module text for the per-step
    fields). ``by_layer[name][t]``: the allocation of a layer's parameters (a layer is
    the module that owns them) at step t; ``layer_helping`` / ``layer_hurting``: the
    fraction of its parameters with negative / positive allocation; ``helping[t]`` /
    ``hurting[t]`` the same over all parameters (``helping_share``: among those with a
    nonzero allocation); ``cumulative[name]``: each parameter's
    allocation summed over the steps, shaped like the parameter; ``layer_of`` maps
    parameter names to layers and ``layer_sizes`` counts each layer's parameters.

    Example:
        >>> import tempfile
        >>> t = torch.tensor([-0.5, -0.2], dtype=torch.float64)
        >>> res = LCAResult(steps=torch.arange(2), loss=torch.tensor([2.0, 1.5, 1.3]),
        ...     loss_change=t, total=t.clone(), error=torch.zeros(2), buffer_change=torch.zeros(2),
        ...     outside=torch.zeros(2), splits=torch.zeros(2, dtype=torch.int64),
        ...     helping=torch.tensor([0.6, 0.5]), hurting=torch.tensor([0.4, 0.5]),
        ...     by_layer={"fc": t.clone()}, layer_helping={"fc": torch.tensor([0.6, 0.5])},
        ...     layer_hurting={"fc": torch.tensor([0.4, 0.5])},
        ...     cumulative={"fc.weight": torch.full((2, 1), -0.35, dtype=torch.float64)},
        ...     layer_of={"fc.weight": "fc"}, layer_sizes={"fc": 2})
        >>> again = LCAResult.load(res.save(tempfile.mkdtemp() + "/lca.safetensors"))
        >>> again.n_steps, again.layer_totals()
        (2, {'fc': -0.7})
    """

    FORMAT = "neuronscope.lca"

    steps: torch.Tensor
    loss: torch.Tensor
    loss_change: torch.Tensor
    total: torch.Tensor
    error: torch.Tensor
    buffer_change: torch.Tensor
    outside: torch.Tensor
    splits: torch.Tensor
    helping: torch.Tensor
    hurting: torch.Tensor
    by_layer: dict[str, torch.Tensor]
    layer_helping: dict[str, torch.Tensor]
    layer_hurting: dict[str, torch.Tensor]
    cumulative: dict[str, torch.Tensor]
    layer_of: dict[str, str]
    layer_sizes: dict[str, int]
    method: str = "simpson"
    settings: dict[str, Any] = field(default_factory=dict)
    fingerprint: torch.Tensor = field(default_factory=lambda: torch.zeros(0))

    @property
    def n_steps(self) -> int:
        """How many optimizer steps were allocated."""
        return len(self.total)

    @property
    def layers(self) -> list[str]:
        """The layers, in the model's order."""
        return list(self.by_layer)

    @property
    def unchanged(self) -> torch.Tensor:
        """[T] fraction of parameters whose allocation is exactly 0: they did not move, or
        their gradient on the evaluation set is 0 (a ReLU unit dead on every evaluation
        input, a weight on an always-blank pixel), though the optimizer may move them."""
        return 1.0 - self.helping - self.hurting

    @property
    def helping_share(self) -> torch.Tensor:
        """[T] of the parameters with a nonzero allocation, the fraction that helped:
        helping / (helping + hurting), the paper's "about half" figure."""
        return self.helping / (self.helping + self.hurting)

    @property
    def relative_error(self) -> torch.Tensor:
        """[T] per step, |error| over the loss change the parameters made (the measured
        change less ``buffer_change``; what the splitting rule compares); inf where that
        is 0 and the error is not, nan where both are."""
        return self.error.abs() / (self.loss_change - self.buffer_change).abs()

    def layer_totals(self) -> dict[str, float]:
        """Each layer's allocation summed over all steps (negative: the layer helped)."""
        return {name: float(v.sum()) for name, v in self.by_layer.items()}

    def __repr__(self) -> str:
        err = self.relative_error
        med = float(err[torch.isfinite(err)].median()) if torch.isfinite(err).any() else 0.0
        return (f"LCAResult({self.n_steps} steps, {len(self.by_layer)} layers, "
                f"method={self.method!r}, mean helping {float(self.helping.mean()):.3f}, "
                f"median relative error {med:.2e})") if self.n_steps else "LCAResult(0 steps)"
