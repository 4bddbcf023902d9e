"""Shared test set-up: a private weight cache and one torch thread per test worker."""

import os
import tempfile

import pytest
import torch

# Tests never read or write the user's cache; pytest-xdist workers each get one thread.
os.environ.setdefault("NEURONSCOPE_CACHE", tempfile.mkdtemp(prefix="neuronscope-test-cache-"))
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
