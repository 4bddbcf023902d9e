"""Work one step behind: each batch's analysis runs in a worker thread while the caller
loads and runs the next batch (torch releases the GIL in its kernels, so the two overlap
on a CPU's idle cores, or with a GPU's forward pass).

The analyses run one at a time, in the order given; at most one waits, so the memory held
is one batch's. An error in an analysis is raised in the caller at its next `submit`,
`wait`, or when the block ends. Grad mode is thread-local: the worker runs without
gradients, as the passes that feed it do.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import torch


class Behind:
    """A one-thread pipeline for per-batch analyses.

    Example:
        >>> seen = []
        >>> with Behind() as behind:
        ...     for i in range(3):
        ...         behind.submit(seen.append, i)
        >>> seen
        [0, 1, 2]
    """

    def __enter__(self) -> Behind:
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="neuronscope-behind")
        self.pending: Future | None = None
        return self

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` once the analysis before it has finished."""
        self.wait()
        self.pending = self.pool.submit(_no_grad, fn, *args)

    def wait(self) -> None:
        """Return once every analysis submitted so far has finished (before reading or
        saving what they fill)."""
        if self.pending is not None:
            pending, self.pending = self.pending, None
            pending.result()

    def __exit__(self, kind: Any, *_: Any) -> None:
        try:
            if kind is None:
                self.wait()
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)


def _no_grad(fn: Callable[..., Any], *args: Any) -> Any:
    with torch.no_grad():
        return fn(*args)
