"""A receptive field as a result: size, stride and offset per spatial axis, the box of
input pixels (or steps) a unit sees, and the field of a layer that sees the whole input.
How fields are found: `neuronscope.core.receptive`."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .result import Result


@dataclass(frozen=True)
class ReceptiveField(Result):
    """Size, stride and offset of a layer's receptive field, per spatial axis.

    Axes are the spatial axes of the input (rows then columns for images; one axis
    for sequences). ``is_global`` marks a layer whose units see the whole input
    (after global pooling, flatten or linear): then size = stride = the input size.
    ``exact`` is False for a gradient footprint that reached the input's border on both
    sides of an axis: the size is then a lower bound (the field is larger than the
    input) and the stride, which cannot be measured, is estimated from the map size
    (input size / positions). It is False too when the footprints of two neighbouring
    units differ in size: a field cut by the border on one side, or no fixed window at
    all (a recurrent layer, whose step t sees every step up to t); the size is then the
    centre unit's footprint. A stride is never 0.

    Example:
        >>> rf = ReceptiveField(size=(3, 3), stride=(2, 2), offset=(0.0, 0.0), method="analytic")
        >>> rf.box(1, 2)
        (1, 3, 4, 6)
        >>> rf.box(0, 0, clip=(8, 8))
        (0, 0, 2, 2)
    """

    FORMAT = "neuronscope.receptive_field"

    size: tuple[int, ...]
    stride: tuple[int, ...]
    offset: tuple[float, ...]
    method: str
    is_global: bool = False
    layer: str = ""
    exact: bool = True

    def box(self, *pos: int, clip: Sequence[int] | None = None) -> tuple[int, ...]:
        """Input pixels seen by the unit at `pos`: ``(top, left, bottom, right)``, ends exclusive.

        One start and one end per axis (``(start, end)`` for 1-d). `clip` is an input
        shape (its last axes are used, so ``(3, 32, 32)`` works) to cut the box to.
        A global field ignores `pos` and returns the whole input.
        """
        n = len(self.size)
        if self.is_global:
            pos = (0,) * n
        elif len(pos) != n:
            raise ValueError(f"box takes {n} position indices (one per spatial axis), got {pos}")
        starts = [
            math.floor(o - (s - 1) / 2 + 0.5) + p * j
            for o, s, p, j in zip(self.offset, self.size, pos, self.stride, strict=True)
        ]
        ends = [a + s for a, s in zip(starts, self.size, strict=True)]
        if clip is not None:
            bounds = tuple(int(b) for b in clip)[-n:]
            if len(bounds) != n:
                raise ValueError(f"clip needs {n} spatial sizes, got {tuple(clip)}")
            starts = [min(max(a, 0), b) for a, b in zip(starts, bounds, strict=True)]
            ends = [min(max(e, 0), b) for e, b in zip(ends, bounds, strict=True)]
        return (*starts, *ends)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (``"global"`` for `is_global`)."""
        return {"layer": self.layer, "size": list(self.size), "stride": list(self.stride),
                "offset": list(self.offset), "method": self.method, "global": self.is_global,
                "exact": self.exact}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ReceptiveField:
        """The inverse of `to_dict`."""
        return cls(tuple(d["size"]), tuple(d["stride"]), tuple(map(float, d["offset"])),
                   d["method"], bool(d.get("global", False)), d.get("layer", ""),
                   bool(d.get("exact", True)))


def spatial_size(x: torch.Tensor) -> tuple[int, ...]:
    """The spatial sizes of a batched input: after batch and channels, or after the batch
    alone for [B, T]."""
    return tuple(x.shape[2:]) if x.dim() >= 3 else tuple(x.shape[1:])


def global_field(size: tuple[int, ...], method: str, layer: str) -> ReceptiveField:
    """The field of a layer whose units see the whole input of spatial `size`."""
    return ReceptiveField(size, size, tuple((s - 1) / 2 for s in size), method, True, layer)
