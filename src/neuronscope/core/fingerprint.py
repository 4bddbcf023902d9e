"""Short hashes that tell whether two runs saw the same weights and the same data.

Resumed jobs and atlases compare them before they continue, so that a checkpoint
of one model or dataset is never continued with another.
"""

from __future__ import annotations

import hashlib
from typing import Any

import torch
from torch import nn

from .data import as_dataset, item_input


def _bytes(t: torch.Tensor) -> bytes:
    return t.detach().to("cpu").contiguous().view(-1).view(torch.uint8).numpy().tobytes()


def model_fingerprint(model: nn.Module) -> str:
    """A short hash of every parameter and buffer (names, shapes, dtypes and values).

    Example:
        >>> a = nn.Linear(2, 2)
        >>> model_fingerprint(a) == model_fingerprint(a), len(model_fingerprint(a))
        (True, 16)
    """
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        h.update(f"{name}{tuple(t.shape)}{t.dtype}".encode())
        h.update(_bytes(t))
    return h.hexdigest()[:16]


def data_fingerprint(data: Any, samples: int = 8) -> str:
    """A short hash of the dataset's length and a few of its inputs (first, last, between).

    Example:
        >>> data_fingerprint(torch.zeros(4, 2)) == data_fingerprint(torch.ones(4, 2))
        False
    """
    dataset = as_dataset(data)
    n = len(dataset)
    h = hashlib.sha256(str(n).encode())
    for i in sorted({round(j * (n - 1) / max(1, samples - 1)) for j in range(samples)}):
        if n:
            h.update(_bytes(item_input(dataset, i)))
    return h.hexdigest()[:16]
