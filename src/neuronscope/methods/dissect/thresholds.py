"""Each unit's activation threshold: its top `quantile` over all positions of all inputs.

The number of positions is known before the pass (inputs x positions per input), so each
unit keeps its running top ``k = ceil(quantile * positions)`` values, merged batch by
batch; the threshold is the smallest of them. That is exact while k is at most `most`
values per unit (8,192 by default: 32 KB per unit; shapes-cnn's conv1 up to 1,600 images,
a 7x7 layer up to 33,000).

Beyond that, memory stays flat in the number of inputs: each position is kept with
probability ``rate = most / k`` (a seeded uniform sample, the same positions for every
unit) and the threshold is the top `quantile` of the sample, so its rank is off by about
``1 / sqrt(most)`` relative (1.1% at the default: the top 0.5% becomes 0.4945-0.5055% at
one standard deviation); `rate` says which (1.0: exact). Peak memory of dissecting every
conv layer of shapes-cnn: 404 MiB over 2,000 scenes, 417 over 8,000 (65,536 values per
unit, the former cap: 429 and 502).
"""

from __future__ import annotations

import math

import torch

MOST = 8_192


class TopQuantile:
    """The running top-k values of every unit of one layer [units, k].

    Example:
        >>> t = TopQuantile(units=2, positions=100, quantile=0.05)
        >>> t.add(torch.arange(200.0).view(1, 2, 100))  # one input, unit 1 = unit 0 + 100
        >>> t.thresholds().tolist(), t.rate
        ([95.0, 195.0], 1.0)
    """

    def __init__(self, units: int, positions: int, quantile: float, most: int = MOST,
                 seed: int = 0) -> None:
        if not 0 < quantile < 1:
            raise ValueError(f"quantile must be in (0, 1), got {quantile}")
        k = max(1, math.ceil(quantile * positions))
        self.rate = 1.0 if k <= most else most / k
        self.k = min(k, most)
        self._top = torch.full((units, 0), -math.inf)
        self._rows: list[torch.Tensor] = []  # values above a unit's k-th, not merged yet
        self._values: list[torch.Tensor] = []
        self._pending = 0
        self.seed = seed
        self.least = torch.full((units,), math.inf)  # each unit's smallest value seen

    @property
    def top(self) -> torch.Tensor:
        """Every unit's top k values so far [units, <= k], in no order."""
        self._compact()
        return self._top

    @top.setter
    def top(self, values: torch.Tensor) -> None:
        self._rows, self._values, self._pending, self._top = [], [], 0, values

    def add(self, out: torch.Tensor, key: int = 0) -> None:
        """One batch of the layer's output [B, units, ...]; `key` (the batch's number)
        seeds its sample, so that shards and resumed runs sample as one pass does.

        Once a unit holds k values, only values above its k-th (as of the last merge) can
        enter: they are set aside, and merged (a selection over few values rather than over
        the whole batch) once a quarter as many as the top holds are waiting."""
        out = out.float().cpu()
        self.least = torch.minimum(self.least, out.amin([d for d in range(out.dim()) if d != 1]))
        if self.rate < 1.0 or self._top.shape[1] < self.k:
            values = out.transpose(0, 1).reshape(out.shape[1], -1)
            if self.rate < 1.0:
                gen = torch.Generator().manual_seed(self.seed * 1_000_003 + key)
                values = values[:, torch.rand(values.shape[1], generator=gen) < self.rate]
            if self._top.shape[1] < self.k:
                self.merge(values)
                return
            out = values.unsqueeze(0)  # [1, units, sampled positions]
        kth = self._top.amin(1).view(1, -1, *[1] * (out.dim() - 2))
        above = out > kth                    # in the output's own layout: no copy
        self._rows.append(above.nonzero(as_tuple=True)[1].to(torch.int32))
        self._values.append(out[above])
        self._pending += len(self._rows[-1])
        if self._pending >= self._top.numel() // 4:  # a quarter: memory stays near the top's
            self._compact()

    def _compact(self) -> None:
        if not self._pending:
            return
        rows, values = torch.cat(self._rows), torch.cat(self._values)
        self._rows, self._values, self._pending = [], [], 0
        rows = rows.long()
        counts = torch.bincount(rows, minlength=len(self._top))
        start = torch.cumsum(counts, 0) - counts
        order = torch.argsort(rows, stable=True)                   # grouped by unit
        rows, values = rows[order], values[order]
        wide = torch.full((len(self._top), int(counts.max())), -math.inf)
        wide[rows, torch.arange(len(rows)) - start[rows]] = values
        self.merge(wide)

    def merge(self, values: torch.Tensor) -> None:
        """Take in more values [units, m] (another shard's top, say)."""
        both = torch.cat([self.top, values], dim=1)
        self._top = both.topk(min(self.k, both.shape[1]), dim=1).values

    def thresholds(self) -> torch.Tensor:
        """Per unit the smallest of its top k values [units]."""
        return self.top.amin(1)


class TopInputs:
    """The `k` inputs on which each unit's largest value is highest, in order: the images
    a dissection shows for the unit.

    Example:
        >>> t = TopInputs(units=1, k=2)
        >>> t.add(torch.tensor([[[0.0, 3.0]], [[5.0, 1.0]], [[2.0, 2.0]]]))  # inputs 0-2
        >>> t.indices.tolist()
        [[1, 0]]
    """

    def __init__(self, units: int, k: int = 8) -> None:
        self.k = k
        self.values = torch.full((units, 0), -math.inf)
        self.indices = torch.zeros((units, 0), dtype=torch.long)

    def add(self, out: torch.Tensor, start: int = 0) -> None:
        """One batch of the layer's output [B, units, ...], whose first input is item
        `start` of the data."""
        self.add_peaks(peaks(out), start)

    def add_peaks(self, peak: torch.Tensor, start: int = 0) -> None:
        """One batch's largest value of each map [B, units] (`peaks`)."""
        peak = peak.T.cpu()
        self.merge(peak, torch.arange(start, start + peak.shape[1]).expand_as(peak))

    def merge(self, values: torch.Tensor, indices: torch.Tensor) -> None:
        """Take in more (value, input) pairs [units, m]; ties go to the lower input."""
        values = torch.cat([self.values, values], 1)
        indices = torch.cat([self.indices, indices], 1)
        order = indices.argsort(dim=1, stable=True)
        values, indices = values.gather(1, order), indices.gather(1, order)
        best = values.argsort(dim=1, descending=True, stable=True)[:, :self.k]
        self.values, self.indices = values.gather(1, best), indices.gather(1, best)


def peaks(out: torch.Tensor) -> torch.Tensor:
    """The largest value of each map of a layer's output [B, units, ...]: [B, units].

    Example:
        >>> peaks(torch.arange(8.0).view(1, 2, 2, 2)).tolist()
        [[3.0, 7.0]]
    """
    out = out.float()
    return out.flatten(2).amax(2) if out.dim() > 2 else out
