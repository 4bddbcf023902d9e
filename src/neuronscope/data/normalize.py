"""Data in a model's space: the `Normalized` view of a 0-1 image dataset, and the checks of
the ``size``, ``mean`` and ``std`` options that resizable datasets (photos, folders) take."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import torch
from torch.utils.data import Dataset


def parse_size(size: int | Sequence[int]) -> tuple[int, int]:
    """A ``size`` option (N, or (height, width)) as (height, width); ValueError if not positive.

    Example:
        >>> parse_size(224), parse_size((32, 48))
        ((224, 224), (32, 48))
    """
    pair = isinstance(size, Sequence) and not isinstance(size, str)
    hw = tuple(int(s) for s in size) if pair else (int(size),) * 2  # type: ignore[arg-type]
    if len(hw) != 2 or min(hw) < 1:
        raise ValueError(f"size must be a positive integer or (height, width), got {size}")
    return hw[0], hw[1]


def parse_stats(value: float | Sequence[float] | None, name: str) -> tuple[float, ...] | None:
    """A ``mean`` or ``std`` option (one number or one per RGB channel) as three floats.

    Example:
        >>> parse_stats(0.5, "mean"), parse_stats(None, "std")
        ((0.5, 0.5, 0.5), None)
    """
    if value is None:
        return None
    values = (value,) if isinstance(value, int | float) else tuple(value)
    values = tuple(float(v) for v in (values * 3 if len(values) == 1 else values))
    if len(values) != 3:
        raise ValueError(f"{name} must be one number or three (one per RGB channel), got {value}")
    if name == "std" and any(v <= 0 for v in values):
        raise ValueError(f"std must be positive, got {value}")
    return values


def parse_normalization(mean: float | Sequence[float] | None,
                        std: float | Sequence[float] | None
                        ) -> tuple[tuple[float, ...] | None, tuple[float, ...] | None]:
    """``mean`` and ``std`` options checked together (both or neither), three floats each.

    Example:
        >>> parse_normalization(0.5, (0.25, 0.5, 0.25))
        ((0.5, 0.5, 0.5), (0.25, 0.5, 0.25))
    """
    if (mean is None) != (std is None):
        raise ValueError("give both mean and std, or neither")
    return parse_stats(mean, "mean"), parse_stats(std, "std")


class Normalized(Dataset):
    """An image dataset of 0-1 pixels seen normalized, ``(x - mean) / std`` per channel.

    Items keep their form ((x, label), a dict with "image", or x); the spec records the
    normalization, so pictures drawn from the items are undone back to pixels. Other
    attributes (``classes``, ...) are the wrapped dataset's.

    Example:
        >>> from neuronscope.data.base import TensorImageDataset
        >>> ds = TensorImageDataset(torch.ones(2, 1, 4, 4), torch.tensor([0, 1]), ["a", "b"])
        >>> float(Normalized(ds, (0.5,), (0.25,))[0][0].max())
        2.0
    """

    def __init__(self, dataset: Dataset, mean: Sequence[float], std: Sequence[float]) -> None:
        self.dataset = dataset
        self.spec = dataclasses.replace(dataset.spec, mean=tuple(mean), std=tuple(std))

    def __len__(self) -> int:
        return len(self.dataset)

    def _norm(self, x: torch.Tensor) -> torch.Tensor:
        return self.spec.to_model(x.unsqueeze(0))[0]

    def __getitem__(self, i: int) -> Any:
        item = self.dataset[i]
        if isinstance(item, dict) and "image" in item:
            return {**item, "image": self._norm(item["image"])}
        if isinstance(item, tuple | list):
            return (self._norm(item[0]), *item[1:])
        return self._norm(item)

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The wrapped dataset's tensors, the inputs normalized."""
        x, y = self.dataset.tensors()
        return self.spec.to_model(x), y

    def __getattr__(self, name: str) -> Any:
        if name == "dataset":  # not set yet (copy, unpickling)
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __repr__(self) -> str:
        return f"Normalized({self.dataset!r}, mean={self.spec.mean}, std={self.spec.std})"
