"""Null baselines of a dissection (Bau et al. 2017): how many detectors appear where no
unit should be interpretable.

*Rotation*: the layer's channel space turned by a random orthogonal matrix Q, each
"unit" a random mix of the real ones. The paper's control rotates the layer and the
next layer's input back (Q^T), which keeps the network's function; the dissection reads
only the rotated layer, so rotating the recorded output is the same thing.
*Shuffled masks*: every input paired with the concept masks of another input (a fixed
permutation), so any overlap left is chance.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import Dataset

CONTROLS = ("rotation", "shuffled masks")


def rotation(channels: int, seed: int = 0) -> torch.Tensor:
    """A random orthogonal matrix [channels, channels] (Haar-distributed), from `seed`.

    Example:
        >>> q = rotation(4)
        >>> bool(torch.allclose(q @ q.T, torch.eye(4), atol=1e-5))
        True
    """
    g = torch.Generator().manual_seed(seed)
    q, r = torch.linalg.qr(torch.randn(channels, channels, generator=g, dtype=torch.float64))
    return (q * torch.sign(torch.diagonal(r))).float()


def rotate(out: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """`out` [B, channels, ...] with its channels mixed by `q`: unit i = sum_j q[i, j] out_j.

    Example:
        >>> out = torch.randn(2, 3, 4, 4)
        >>> bool(torch.allclose(rotate(out, torch.eye(3)), out))
        True
    """
    q = q.to(out.device, out.dtype)
    return torch.einsum("ij,bj...->bi...", q, out)


class ShuffledMasks(Dataset):
    """Concept data with each item's masks taken from another item (a seeded permutation
    with no item left in place, where there are two items or more).

    Example:
        >>> data = [{"image": torch.full((1,), float(i)), "masks": torch.full((1,), i)}
        ...         for i in range(3)]
        >>> s = ShuffledMasks(data)
        >>> [int(s[i]["masks"]) for i in range(3)] != [0, 1, 2]
        True
    """

    def __init__(self, dataset: Any, seed: int = 0) -> None:
        self.dataset = dataset
        self.concepts = getattr(dataset, "concepts", None)
        self.spec = getattr(dataset, "spec", None)
        n = len(dataset)
        g = torch.Generator().manual_seed(seed)
        perm = torch.randperm(n, generator=g)
        self.order = torch.roll(perm, 1)[torch.argsort(perm)] if n > 1 else perm  # a
        # cycle through the random order: i -> the item after i in perm, never i itself

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = dict(self.dataset[i])
        item["masks"] = self.dataset[int(self.order[i])]["masks"]
        return item
