"""Intersection over union of every unit's thresholded map with every concept's mask,
tallied over the whole dataset in one pass (Bau et al. 2017)."""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F


class IoUTally:
    """Sums, over all inputs, of each unit's area above its threshold, each concept's area,
    and their intersection. Maps are upsampled bilinearly to the masks' size; a layer
    without positions marks the whole input where the unit is at or above its threshold.

    Example:
        >>> tally = IoUTally(torch.tensor([0.5]), n_concepts=2)
        >>> out = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])         # one unit, top-left on
        >>> masks = torch.zeros(1, 2, 2, 2, dtype=torch.bool)
        >>> masks[0, 0, 0, 0] = masks[0, 1, 1, 1] = True
        >>> tally.add(out, masks)
        >>> tally.ious().tolist()
        [[1.0, 0.0]]
    """

    def __init__(self, thresholds: torch.Tensor, n_concepts: int,
                 least: torch.Tensor | None = None) -> None:
        self.thresholds = thresholds.float()
        self.low = levels(self.thresholds, least)  # on at or above (`least`: see levels)
        units = len(thresholds)
        self.inter = torch.zeros(units, n_concepts, dtype=torch.float64)
        self.unit_area = torch.zeros(units, dtype=torch.float64)
        self.concept_area = torch.zeros(n_concepts, dtype=torch.float64)
        self.pixels = 0

    def add(self, out: torch.Tensor, masks: torch.Tensor, area: torch.Tensor | None = None,
            peak: torch.Tensor | None = None) -> None:
        """One batch: the layer's output [B, units, ...] and the masks [B, concepts, H, W]
        (`area`: each concept's pixels in the batch, `concept_pixels(masks)`, when the
        caller tallies several layers on one batch; `peak`: each map's largest value
        [B, units], when the caller has it).

        Only the (input, unit) pairs whose map reaches the threshold somewhere are
        upsampled (bilinear upsampling mixes values convexly: a map whose peak is below the
        threshold is below it everywhere after), only their rows that can reach it are
        upsampled across (`on_pixels`), and the masks are read only at the pixels that are
        on."""
        size = tuple(masks.shape[-2:])
        maps = out.float().cpu()
        if maps.dim() not in (2, 4):
            raise ValueError(f"dissection reads maps [B, units, H, W] or values [B, units], "
                             f"got {tuple(out.shape)}")
        m = masks.flatten(2)                                                    # [B, K, P]
        self.concept_area += (concept_pixels(masks) if area is None else area).double()
        self.pixels += m.shape[0] * m.shape[2]
        low = self.low
        if maps.dim() == 2:  # values: the unit marks its whole input or none of it
            on = (maps >= low).double()                                         # [B, U]
            self.inter += on.T @ m.float().sum(2).double()
            self.unit_area += on.sum(0) * m.shape[2]
            return
        peak = maps.flatten(2).amax(2) if peak is None else peak.cpu()
        b, u = (peak >= low).nonzero(as_tuple=True)                      # pairs that can
        pair, pixel = on_pixels(maps[b, u], low[u], size)                # be on [n, h, w]
        # the on pixels are few (the top 0.5% of positions): the masks are read only there
        hit = m[b[pair], :, pixel]                                              # [on, K]
        self.inter.index_add_(0, u[pair], hit.double())
        self.unit_area += torch.bincount(u[pair], minlength=len(low)).double()

    def state(self) -> dict[str, torch.Tensor]:
        """The running sums, as tensors (to save, or to add another shard's to)."""
        return {"inter": self.inter, "unit_area": self.unit_area,
                "concept_area": self.concept_area,
                "pixels": torch.tensor([self.pixels], dtype=torch.float64)}

    def absorb(self, state: dict[str, torch.Tensor]) -> None:
        """Add the sums of `state` (another shard's, or a checkpoint's)."""
        self.inter += state["inter"]
        self.unit_area += state["unit_area"]
        self.concept_area += state["concept_area"]
        self.pixels += int(state["pixels"][0])

    def ious(self) -> torch.Tensor:
        """[units, concepts]: intersection / union over the dataset (0 where both are
        empty)."""
        union = self.unit_area[:, None] + self.concept_area[None, :] - self.inter
        return (self.inter / union.clamp_min(1)).float()

    def coverage(self) -> torch.Tensor:
        """[concepts]: each concept's share of all pixels of all inputs."""
        return (self.concept_area / max(1, self.pixels)).float()


def levels(thresholds: torch.Tensor, least: torch.Tensor | None = None) -> torch.Tensor:
    """Per unit the value at or above which a position is on: just under its threshold (a
    map at its threshold stays on after upsampling's rounding, as a saturated unit's top
    ties at its largest value); but for a unit whose threshold is its smallest value over
    the data (`least`: a dead or nearly dead ReLU, 0 on all but a few positions), just
    above it, so that it is on only where it exceeds that value, never everywhere.

    Example:
        >>> low = levels(torch.tensor([1.0, 0.0]), least=torch.tensor([0.0, 0.0]))
        >>> bool(low[0] < 1.0), bool(low[1] > 0.0)  # unit 1: tied at its smallest value
        (True, True)
    """
    thr = thresholds.float()
    low = thr - 1e-5 * thr.abs().clamp_min(1)
    if least is None:
        return low
    tied = thr <= least.float()
    return torch.where(tied, torch.nextafter(thr, torch.full_like(thr, math.inf)), low)


def concept_pixels(masks: torch.Tensor) -> torch.Tensor:
    """[concepts]: each concept's pixels in a batch of masks [B, concepts, H, W] (summed as
    float32, exact to 2^24 and 10 times faster than an integer sum of bools here)."""
    return masks.flatten(2).float().sum((0, 2))


@functools.lru_cache(maxsize=64)
def _weights(n: int, size: int) -> torch.Tensor:
    """[size, n]: linear interpolation from n samples to size (align_corners=False)."""
    return F.interpolate(torch.eye(n).unsqueeze(0), size=size, mode="linear",
                         align_corners=False)[0].T


def on_pixels(maps: torch.Tensor, low: torch.Tensor, size: tuple[int, int]
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """(map index, flat pixel) where maps [n, h, w], upsampled bilinearly to `size`, reach
    their `low` [n]: the same pixels as ``upsample(maps, size) >= low``, computed as its
    two matrix products, the second one only for the rows whose largest value reaches
    `low` (a pixel mixes two values of its row convexly). 3-4 times faster here.

    Example:
        >>> maps = torch.rand(3, 4, 5)
        >>> want = (upsample(maps, (8, 10)).flatten(1) >= 0.7).nonzero(as_tuple=True)
        >>> got = on_pixels(maps, torch.full((3,), 0.7), (8, 10))
        >>> all(torch.equal(a, b) for a, b in zip(got, want))
        True
    """
    h, w = maps.shape[-2:]
    if (h, w) == tuple(size):
        return (maps.flatten(1) >= low[:, None]).nonzero(as_tuple=True)
    rows = torch.matmul(_weights(h, size[0]), maps)                             # [n, H, w]
    p, y = (rows.amax(2) >= low[:, None]).nonzero(as_tuple=True)
    r, x = ((rows[p, y] @ _weights(w, size[1]).T) >= low[p, None]).nonzero(as_tuple=True)
    return p[r], y[r] * size[1] + x


def upsample(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear upsampling of maps [B, U, h, w] to `size`, as two small matrix products
    (bilinear is separable): 4-8 times faster than ``F.interpolate`` on CPU here, equal
    to float rounding (5e-7).

    Example:
        >>> x = torch.rand(2, 3, 4, 5)
        >>> want = F.interpolate(x, size=(8, 10), mode="bilinear", align_corners=False)
        >>> bool((upsample(x, (8, 10)) - want).abs().max() < 1e-6)
        True
    """
    h, w = maps.shape[-2:]
    return torch.matmul(torch.matmul(_weights(h, size[0]), maps), _weights(w, size[1]).T)
