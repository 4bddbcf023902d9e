"""Hashes that tell whether two runs saw the same weights and the same data.

Resumed jobs and atlases compare them before they continue, so that a checkpoint of
one model or dataset is never continued with another:

- `model_fingerprint`: every parameter and buffer.
- `quick_fingerprint`: the length and a few items; a cheap first check at the start.
- `ContentHash`: every item's content, hashed while a job reads the data anyway. Each
  item's digest covers its index and every tensor, number and string in it; the
  dataset's hash is the sum of the item digests (mod 2**128), so it can be computed in
  any order, in pieces (a checkpoint keeps the sum of the items done), and merged
  across shards. `data_fingerprint` reads a whole dataset for it.
- `ItemDigests`: one digest per item (for checking a subset of the data, as an atlas's
  later passes do against what its first pass read).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import xxhash
from torch import nn

from .data import as_dataset, batch_input, loader

MOD = 1 << 128


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


def quick_fingerprint(data: Any, samples: int = 8) -> str:
    """A short hash of the dataset's length and a few of its inputs (first, last, between):
    a cheap check before a job starts, not a proof (see `ContentHash`).

    Example:
        >>> quick_fingerprint(torch.zeros(4, 2)) == quick_fingerprint(torch.ones(4, 2))
        False
    """
    dataset = as_dataset(data)
    n = len(dataset)
    h = hashlib.sha256(str(n).encode())
    for i in sorted({round(j * (n - 1) / max(1, samples - 1)) for j in range(samples)}):
        if n:
            x = batch_input(dataset[i])
            h.update(_bytes(x) if isinstance(x, torch.Tensor) else item_digest(i, x))
    return h.hexdigest()[:16]


def _leaves(x: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(path, leaf) of a batch or an item: tensors, numbers, strings, in a fixed order."""
    if isinstance(x, dict):
        for key in sorted(x, key=str):
            yield from _leaves(x[key], f"{path}/{key}")
    elif isinstance(x, (tuple, list)) and not (x and isinstance(x[0], str)):
        for i, v in enumerate(x):
            yield from _leaves(v, f"{path}/{i}")
    else:
        yield path, x


def _leaf_tensor(x: Any) -> Any:
    """A number or array as the tensor a DataLoader would collate it to."""
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, bool):
        return torch.tensor(x)
    if isinstance(x, int):
        return torch.tensor(x, dtype=torch.int64)
    if isinstance(x, float):
        return torch.tensor(x, dtype=torch.float64)
    if isinstance(x, np.ndarray):
        return torch.from_numpy(x)
    return x


def _hash(seed: int, path: str, leaf: Any) -> int:
    """XXH3 (64 bits) of one leaf (its path, dtype, shape and bytes), seeded by the hash
    of the leaves before it."""
    if isinstance(leaf, torch.Tensor):
        t = leaf.detach().to("cpu").contiguous()
        seed = xxhash.xxh3_64_intdigest(f"{path}|{t.dtype}|{tuple(t.shape)}|".encode(), seed)
        return xxhash.xxh3_64_intdigest(t.view(-1).view(torch.uint8).numpy(), seed)
    return xxhash.xxh3_64_intdigest(f"{path}|{type(leaf).__name__}|{leaf}|".encode(), seed)


def _mix(index: int, h: int) -> bytes:
    """The item's 8-byte digest: its index and content hash, mixed (splitmix64) so that
    digests spread over 64 bits and their sum (`ContentHash`) does not cancel."""
    z = (index * 0x9E3779B97F4A7C15 + h * 0xBF58476D1CE4E5B9 + 1) % (1 << 64)
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) % (1 << 64)
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) % (1 << 64)
    return (z ^ (z >> 31)).to_bytes(8, "little")


def item_digest(index: int, item: Any) -> bytes:
    """The 8-byte digest of dataset item `index` (as ``dataset[index]`` returns it): an
    XXH3 hash of everything in it (many GB/s), mixed with the index. A changed item goes
    unnoticed with a chance of about 1 in 2**64.

    Example:
        >>> item_digest(0, (torch.ones(2), 1)) == item_digest(0, (torch.ones(2), 2))
        False
    """
    h = 0
    for path, leaf in _leaves(item):
        h = _hash(h, path, _leaf_tensor(leaf))
    return _mix(int(index), h)


def batch_digests(indices: Any, batch: Any) -> list[bytes]:
    """`item_digest` of every item of a collated batch (the same bytes as item by item)."""
    rows = indices.tolist() if hasattr(indices, "tolist") else list(indices)
    hs = [0] * len(rows)
    for path, leaf in _leaves(batch):
        leaf = _leaf_tensor(leaf)
        if not isinstance(leaf, torch.Tensor):
            hs = [_hash(h, path, leaf[r]) for r, h in enumerate(hs)]
            continue
        t = leaf.detach().to("cpu").contiguous()
        head = f"{path}|{t.dtype}|{tuple(t.shape[1:])}|".encode()
        hs = [xxhash.xxh3_64_intdigest(head, h) for h in hs]
        if t.numel():
            data = t.view(len(rows), -1).view(torch.uint8).numpy()
            hs = [xxhash.xxh3_64_intdigest(data[r], h) for r, h in enumerate(hs)]
    return [_mix(i, h) for i, h in zip(rows, hs, strict=True)]


class ContentHash:
    """The order-free hash of the items added so far (see the module docstring).

    Example:
        >>> a, b = ContentHash(), ContentHash()
        >>> a.add(torch.arange(3), torch.eye(3))
        >>> b.add(torch.tensor([2, 0, 1]), torch.eye(3)[[2, 0, 1]])
        >>> a.hexdigest() == b.hexdigest(), a.count
        (True, 3)
    """

    def __init__(self, total: str = "0", count: int = 0) -> None:
        self.total, self.count = int(total, 16), int(count)

    def add(self, indices: Any, batch: Any) -> None:
        """Add the items of a collated batch whose dataset indices are `indices`."""
        self.add_digests(batch_digests(indices, batch))

    def add_digests(self, digests: list[bytes]) -> None:
        """Add items by their `item_digest`."""
        for d in digests:
            self.total = (self.total + int.from_bytes(d, "little")) % MOD
            self.count += 1

    def merge(self, other: ContentHash) -> ContentHash:
        return ContentHash(f"{(self.total + other.total) % MOD:x}", self.count + other.count)

    def state(self) -> dict[str, Any]:
        """What a checkpoint keeps (JSON-ready); ``ContentHash(**state)`` restores it."""
        return {"total": f"{self.total:x}", "count": self.count}

    def hexdigest(self) -> str:
        """16 hex digits naming the items added (their indices and contents)."""
        return hashlib.sha256(f"{self.count}:{self.total:032x}".encode()).hexdigest()[:16]


def data_fingerprint(data: Any, batch_size: int = 256) -> str:
    """The `ContentHash` of every item of a dataset (reads it all once).

    Example:
        >>> data_fingerprint(torch.zeros(4, 2)) == data_fingerprint(torch.ones(4, 2))
        False
    """
    dataset = as_dataset(data)
    h, start = ContentHash(), 0
    for batch in loader(dataset, batch_size):
        count = len(next(v for _, v in _leaves(batch) if isinstance(v, (torch.Tensor, list))))
        h.add(torch.arange(start, start + count), batch)
        start += count
    return h.hexdigest()
