"""One step's loss change split among the parameters: the path integral of LCA.

Along the straight path theta(a) = theta_0 + a * delta, a in [0, 1], the loss changes by
the integral of grad L(theta(a)) . delta. Each parameter's share is its own term,
A_i = delta_i * integral of dL/dtheta_i (Lan et al. 2019). ``"simpson"`` integrates with
Simpson's rule (weights 1, 4, 1 over 6 at a = 0, 1/2, 1) and, while the allocation
misses the measured loss change by more than ``threshold`` of it, halves every interval
(composite Simpson, the points already evaluated kept) up to ``max_splits`` times.
``"first_order"`` takes the gradient at the start alone (delta * grad L(theta_0)), the
usual first-order estimate, exact only for a linear loss.

Composite Simpson over n intervals is delta * (B + 4 M) / (6 n), where B sums the
gradients at the interval ends (the two outer ends once, the inner ones twice) and M
those at the midpoints; halving every interval turns the midpoints into inner ends
(B += 2 M) and M into the sum at the new midpoints. So only two sums are kept, whatever
the number of splits: memory does not grow with them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

METHODS = ("simpson", "first_order")
Grads = list[torch.Tensor]


@dataclass
class Allocation:
    """One step: ``parts`` (float64, shaped like each parameter), their sum ``total``,
    the ``error`` (total minus the measured loss change) and the number of ``splits``."""

    parts: Grads
    total: float
    error: float
    splits: int


def allocate(grad_at: Callable[[float], Grads], start: Grads, end: Grads, delta: Grads,
             loss_change: float, *, method: str = "simpson", threshold: float = 0.01,
             max_splits: int = 2) -> Allocation:
    """Split `loss_change` among the parameters along the path of one step.

    `grad_at(a)` is the gradient at theta_0 + a * delta; `start` and `end` are the
    gradients at a = 0 and 1 (already known). `threshold` is relative to
    ``|loss_change|``.

    Example (a quadratic loss, where Simpson's rule is exact):
        >>> delta = [torch.tensor([1.0, -2.0], dtype=torch.float64)]
        >>> grad = lambda a: [2 * (torch.tensor([0.5, 1.0], dtype=torch.float64) + a * delta[0])]
        >>> theta0, theta1 = torch.tensor([0.5, 1.0]), torch.tensor([1.5, -1.0])
        >>> change = float(theta1.pow(2).sum() - theta0.pow(2).sum())
        >>> out = allocate(grad, grad(0.0), grad(1.0), delta, change)
        >>> [round(v, 6) + 0.0 for v in out.parts[0].tolist()], round(out.total, 6), out.splits
        ([2.0, 0.0], 2.0, 0)
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method == "first_order":
        parts = [d * g for d, g in zip(delta, start, strict=True)]
        return _done(parts, loss_change, 0)
    ends = [a + b for a, b in zip(start, end, strict=True)]
    mids = grad_at(0.5)
    n, splits = 1, 0
    while True:
        parts = [d * (b + 4 * m) / (6 * n) for d, b, m in zip(delta, ends, mids, strict=True)]
        out = _done(parts, loss_change, splits)
        if splits >= max_splits or abs(out.error) <= threshold * abs(loss_change):
            return out
        ends = [b + 2 * m for b, m in zip(ends, mids, strict=True)]
        n, splits = 2 * n, splits + 1
        mids = grad_at(0.5 / n)
        for j in range(1, n):  # one gradient held at a time
            for m, g in zip(mids, grad_at((j + 0.5) / n), strict=True):
                m += g


def _done(parts: Grads, loss_change: float, splits: int) -> Allocation:
    total = float(sum(p.sum() for p in parts))
    return Allocation(parts, total, total - loss_change, splits)
