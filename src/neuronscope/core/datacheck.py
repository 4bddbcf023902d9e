"""A dataset that checks every item it hands out against a record of what it held.

An atlas is computed in several passes over its data (dataset examples, lesions, the
crops of the pages), possibly days apart and after an interruption. `CheckedData` wraps
the dataset for all of them: each item read is hashed (`item_digest`, while it is read
anyway) and compared with the digest recorded the first time that item was read; a
changed item stops the job with a `DataChangedError` instead of mixing two datasets in
one atlas. Items never read before are recorded.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import Dataset

from .errors import NeuronscopeError
from .fingerprint import item_digest

DIGEST_BYTES = 8


class DataChangedError(NeuronscopeError):
    """The data differs from the data a job or an atlas was started with."""


class CheckedData(Dataset):
    """`dataset`, with each item read checked against `digests` ([n, 8] uint8; a row of
    zeros: not yet seen, recorded on first read).

    Example:
        >>> data = CheckedData(torch.zeros(3, 2))
        >>> _ = data[1]; data.recorded
        1
        >>> try:
        ...     CheckedData(torch.ones(3, 2), data.digests)[1]
        ... except DataChangedError as exc:
        ...     print(exc)
        item 1 of the data differs from the item 1 it was made from
    """

    def __init__(self, dataset: Any, digests: torch.Tensor | None = None, what: str = "it"
                 ) -> None:
        from .data import as_dataset

        self.dataset = as_dataset(dataset)
        n = len(self.dataset)
        if digests is not None and tuple(digests.shape) != (n, DIGEST_BYTES):
            raise DataChangedError(
                f"the data has {n:,} items; {what} was made from {digests.shape[0]:,}")
        self.digests = (torch.zeros(n, DIGEST_BYTES, dtype=torch.uint8) if digests is None
                        else digests.clone())
        self.what, self.recorded = what, 0

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> Any:
        item = self.dataset[i]
        index = int(i) % len(self)
        digest = torch.frombuffer(bytearray(item_digest(index, item)), dtype=torch.uint8)
        saved = self.digests[index]
        if not saved.any():
            self.digests[index] = digest
            self.recorded += 1
        elif not torch.equal(saved, digest):
            raise DataChangedError(
                f"item {index} of the data differs from the item {index} {self.what} was "
                "made from")
        return item

    def __getattr__(self, name: str) -> Any:  # spec, classes, ... of the wrapped dataset
        if name == "dataset":
            raise AttributeError(name)
        return getattr(self.dataset, name)


def merge_digests(records: list[torch.Tensor]) -> torch.Tensor:
    """One record of digests from the records ([n, 8] uint8 each) of processes that read
    parts of the same data: each item's digest from whichever process read it. Two
    processes that read one item with different content stop the job.

    Example:
        >>> a, b = torch.zeros(2, 8, dtype=torch.uint8), torch.zeros(2, 8, dtype=torch.uint8)
        >>> a[0], b[1] = 1, 2
        >>> merge_digests([a, b])[:, 0].tolist()
        [1, 2]
    """
    merged = records[0].clone()
    for rank, other in enumerate(records[1:], start=1):
        seen, known = other.ne(0).any(1), merged.ne(0).any(1)
        clash = torch.nonzero(seen & known & (other != merged).any(1)).flatten()
        if len(clash):
            raise DataChangedError(
                f"item {int(clash[0])} of the data differs between the processes (rank "
                f"{rank} read other content than a rank before it): give every rank the "
                "same data")
        merged[seen & ~known] = other[seen & ~known]
    return merged
