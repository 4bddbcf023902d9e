"""The one-batch-behind worker: order, errors, and grad mode."""

from __future__ import annotations

import pytest
import torch

from neuronscope.core.behind import Behind


def test_analyses_run_in_order_without_gradients() -> None:
    seen: list[tuple[int, bool]] = []
    with Behind() as behind:
        for i in range(5):
            behind.submit(lambda i: seen.append((i, torch.is_grad_enabled())), i)
    assert seen == [(i, False) for i in range(5)]


def test_an_error_in_an_analysis_reaches_the_caller() -> None:
    def fail(i: int) -> None:
        if i == 1:
            raise KeyError(i)

    with pytest.raises(KeyError), Behind() as behind:
        for i in range(4):
            behind.submit(fail, i)
