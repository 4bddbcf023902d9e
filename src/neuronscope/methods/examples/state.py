"""The streaming state behind `top_examples` for one layer: exact, mergeable, constant memory.

Per unit it holds, for the per-example activations ``a[i]`` (a layer's map reduced
over positions by max or mean):

- the k highest and k lowest ``a[i]`` with their dataset index and the position of
  the maximum (ties: the lower dataset index first);
- the count of examples and of positive ones, and exact sums of ``a`` and ``a**2``
  (see `neuronscope.core.exactsum`);
- a histogram whose bins are ``[j * 2**e, (j + 1) * 2**e)``: ``e`` is the smallest
  power of two (not below `E_MIN`) that fits the range seen so far into `bins` bins,
  so the bins depend only on the minimum and maximum, never on the order of the data;
- per histogram bin, the `per_bin` examples of smallest pseudo-random priority (a
  fixed bijective hash of the dataset index), from which uniform random examples of
  any quantile band are drawn at the end.

Every part merges exactly (top-k of a union is the top-k of the parts' top-k, and
so on), so `merge` is exact, associative and commutative: shards, resumed runs and
single passes end in identical tensors.
"""

from __future__ import annotations

from typing import Any

import torch

from neuronscope.core import exactsum

E_MIN = -40
PAD_INDEX = 1 << 62  # index of an empty top-k slot: loses every tie
_MAX_KEY = torch.iinfo(torch.int64).max
_M31 = (1 << 31) - 1

TENSORS = (
    "top_values", "top_index", "top_pos", "bot_values", "bot_index", "bot_pos",
    "n_positive", "n_nonfinite", "vmin", "vmax", "sum1", "sum2", "hist_exp", "hist_start",
    "hist", "res_values", "res_index",
)


def priority(index: torch.Tensor, unit: torch.Tensor, seed: int) -> torch.Tensor:
    """A pseudo-random priority in [0, 2**31) that is a bijection of the index for each unit."""
    h = (index * 1103515245 + (unit * 2654435761 + seed * 97) % (_M31 + 1)) & _M31
    h = h ^ (h >> 13)
    h = (h * 1664525) & _M31
    return h ^ (h >> 16)


def _beats(v: torch.Tensor, kth: torch.Tensor, side: str) -> torch.Tensor:
    """Where v ranks strictly before kth in the side's order (torch's sort: NaN is largest)."""
    if side == "top":
        return (v > kth) | (torch.isnan(v) & ~torch.isnan(kth))
    return (v < kth) | (~torch.isnan(v) & torch.isnan(kth))


def _compact(mask: torch.Tensor, *columns: tuple[torch.Tensor, float]
             ) -> list[torch.Tensor] | None:
    """The columns [U, N] of each tensor where `mask` holds, in order, padded per unit with
    that tensor's pad value; None when no column is picked."""
    c = int(mask.sum(1).max())
    if c == 0:
        return None
    n = mask.shape[1]
    cols = torch.where(mask, torch.arange(n, device=mask.device), n)
    cols = torch.topk(cols, c, dim=1, largest=False, sorted=True).values
    real = cols < n
    cols = cols.clamp_max(n - 1)
    return [torch.where(real, t.gather(1, cols), pad) for t, pad in columns]


class LayerState:
    """Streaming statistics of `n_units` units (see the module docstring)."""

    def __init__(self, n_units: int, k: int, bottom: bool = True, bins: int = 64,
                 per_bin: int = 4, seed: int = 0, device: torch.device | str | None = None,
                 dtype: torch.dtype = torch.float32) -> None:
        self.n_units, self.k, self.bottom = n_units, k, bool(bottom)
        self.bins, self.per_bin, self.seed = bins, per_bin, seed
        self.count = 0
        kb = k if bottom else 0
        u, dev = n_units, device

        def full(shape: tuple[int, ...], value: float, dtype: torch.dtype) -> torch.Tensor:
            return torch.full(shape, value, dtype=dtype, device=dev)

        self.top_values = full((u, k), float("-inf"), dtype)
        self.bot_values = full((u, kb), float("inf"), dtype)
        self.top_index = full((u, k), PAD_INDEX, torch.int64)
        self.bot_index = full((u, kb), PAD_INDEX, torch.int64)
        self.top_pos = full((u, k), -1, torch.int64)
        self.bot_pos = full((u, kb), -1, torch.int64)
        self.n_positive = full((u,), 0, torch.int64)
        self.n_nonfinite = full((u,), 0, torch.int64)
        self.vmin = full((u,), float("inf"), torch.float64)
        self.vmax = full((u,), float("-inf"), torch.float64)
        self.sum1 = exactsum.zeros(u).to(dev)
        self.sum2 = exactsum.zeros(u).to(dev)
        self.hist_exp = full((u,), E_MIN, torch.int64)
        self.hist_start = full((u,), 0, torch.int64)
        self.hist = full((u, bins), 0, torch.int64)
        r = bins * per_bin
        self.res_values = full((u, r), float("nan"), dtype)
        self.res_index = full((u, r), -1, torch.int64)

    # ------------------------------------------------------------------ update

    def update(self, values: torch.Tensor, index: torch.Tensor,
               pos: torch.Tensor | None = None) -> None:
        """Add a batch: ``values`` [B, U] reduced activations, ``index`` [B] dataset indices,
        ``pos`` [B, U] flat positions of the maxima (None for layers without positions).
        Only entries that can enter the top or bottom k need a position (-1 elsewhere)."""
        b = values.shape[0]
        if b == 0:
            return
        v = values.detach().to(self.top_values.device, self.top_values.dtype).t().contiguous()
        idx = index.to(v.device, torch.int64).view(1, b).expand(self.n_units, b)
        p = (pos.to(v.device, torch.int64).t() if pos is not None
             else torch.full_like(idx, -1))
        ordered = (self.count >= self.k and bool(index.min() > self._max_index())
                   and bool((index.diff() > 0).all()))  # empty slots would win ties with -inf
        for side in ("top", "bot") if self.bottom else ("top",):
            if ordered:  # only values that beat the current k-th can enter
                kth = getattr(self, f"{side}_values")[:, -1:]
                better = _beats(v, kth, side)
                pad = float("-inf" if side == "top" else "inf")
                picked = _compact(better, (v, pad), (idx, -1), (p, -1))
                if picked is not None:
                    self._merge_side(side, *picked, ordered=True)
            else:
                self._merge_side(side, v, idx, p, ordered=False)
        self.count += b
        finite = torch.isfinite(v)
        self.n_positive += (v > 0).sum(1)
        self.n_nonfinite += (~finite).sum(1)
        exactsum.add(self.sum1, v.t())
        exactsum.add(self.sum2, v.t().double() ** 2)
        big, small = torch.where(finite, v, -torch.inf), torch.where(finite, v, torch.inf)
        moved = self._rebin(torch.minimum(self.vmin, small.amin(1).double()),
                            torch.maximum(self.vmax, big.amax(1).double()))
        rel = self._bin_of(v)
        self.hist.scatter_add_(1, rel.clamp(0, self.bins - 1), finite.to(torch.int64))
        self._reservoir(v, idx, finite, bins_moved=moved)

    def _max_index(self) -> int:
        index = torch.cat([self.top_index, self.bot_index], 1)
        real = index[index != PAD_INDEX]
        return int(real.max()) if real.numel() else -1

    def _merge_side(self, side: str, v: torch.Tensor, idx: torch.Tensor, p: torch.Tensor,
                    ordered: bool) -> None:
        """Keep the k best of the side's entries and the candidates (v, idx, p) [U, N].

        `ordered`: every candidate index is above every kept one and the candidates are
        in index order, so a stable sort by value alone breaks ties by index.
        """
        values = torch.cat([getattr(self, f"{side}_values"), v], 1)
        index = torch.cat([getattr(self, f"{side}_index"), idx], 1)
        where = torch.cat([getattr(self, f"{side}_pos"), p], 1)
        if not ordered:  # bring candidates into index order; ties then keep it
            o = torch.argsort(index, dim=1, stable=True)
            values, index, where = values.gather(1, o), index.gather(1, o), where.gather(1, o)
        k = self.k if side == "top" else self.top_values.shape[1] * self.bottom
        o = torch.argsort(values, dim=1, descending=side == "top", stable=True)[:, :k]
        setattr(self, f"{side}_values", values.gather(1, o))
        setattr(self, f"{side}_index", index.gather(1, o))
        setattr(self, f"{side}_pos", where.gather(1, o))

    # --------------------------------------------------------------- histogram

    def _bin_of(self, v: torch.Tensor) -> torch.Tensor:
        """Bin of each value [U, N] relative to the histogram start (any int for non-finite)."""
        scaled = torch.ldexp(v.double(), -self.hist_exp.view(-1, 1).to(torch.float64))
        scaled = torch.nan_to_num(scaled, nan=0.0, posinf=0.0, neginf=0.0)
        return scaled.floor().to(torch.int64) - self.hist_start.view(-1, 1)

    def _rebin(self, vmin: torch.Tensor, vmax: torch.Tensor) -> bool:
        """Grow bin widths (powers of two) until [vmin, vmax] fits; move counts along.

        Returns whether any unit's bins moved."""
        seen = torch.isfinite(vmin)
        e = self.hist_exp.clone()
        amax = torch.maximum(vmin.abs(), vmax.abs()).nan_to_num(0.0, posinf=0.0)
        e = torch.maximum(e, torch.frexp(amax).exponent.to(torch.int64) - 52)  # |x|/2**e < 2**52
        span = (vmax - vmin).nan_to_num(0.0, posinf=0.0, neginf=0.0)
        lower = torch.frexp(span / (self.bins + 1)).exponent.to(torch.int64) - 1
        e = torch.where(span > 0, torch.maximum(e, lower), e)  # smaller e cannot fit

        def start(x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
            x = torch.where(seen, x, torch.zeros_like(x))
            return torch.ldexp(x, -e.to(torch.float64)).floor().to(torch.int64)

        while True:
            too_wide = seen & (start(vmax, e) - start(vmin, e) >= self.bins)
            if not bool(too_wide.any()):
                break
            e = e + too_wide.to(torch.int64)
        new_start = start(vmin, e)
        shift = e - self.hist_exp
        moved = bool((shift != 0).any() | (new_start != self.hist_start).any())
        if moved:
            absolute = self.hist_start.view(-1, 1) + torch.arange(self.bins, device=e.device)
            target = (absolute >> shift.view(-1, 1)) - new_start.view(-1, 1)
            hist = torch.zeros_like(self.hist)
            hist.scatter_add_(1, target.clamp(0, self.bins - 1), self.hist)
            self.hist = hist
        self.hist_exp, self.hist_start = e, new_start
        self.vmin, self.vmax = vmin, vmax
        return moved

    # --------------------------------------------------------------- reservoir

    def _reservoir(self, v: torch.Tensor, idx: torch.Tensor, finite: torch.Tensor,
                   bins_moved: bool = True) -> None:
        if not bins_moved:  # every bin keeps what it had: only entries below its cut can enter
            units = torch.arange(self.n_units, device=v.device).view(-1, 1)
            prio = priority(idx, units, self.seed)
            full, cut = self._cuts()
            rel = self._bin_of(v).clamp(0, self.bins - 1)
            enter = finite & (~full.gather(1, rel) | (prio < cut.gather(1, rel)))
            picked = _compact(enter, (v, float("nan")), (idx, -1))
            if picked is None:
                return
            v, idx = picked
            finite = idx >= 0
        values = torch.cat([self.res_values, v], 1)
        index = torch.cat([self.res_index, torch.where(finite, idx, -1)], 1)
        units = torch.arange(self.n_units, device=v.device).view(-1, 1)
        rel = self._bin_of(values).clamp(0, self.bins - 1)
        key = torch.where(index >= 0, (rel << 32) | priority(index, units, self.seed), _MAX_KEY)
        key, o = torch.sort(key, dim=1)
        bin_sorted = key >> 32
        n = key.shape[1]
        arange = torch.arange(n, device=v.device).expand_as(key)
        first = torch.ones_like(key, dtype=torch.bool)
        first[:, 1:] = bin_sorted[:, 1:] != bin_sorted[:, :-1]
        group_start = torch.cummax(torch.where(first, arange, 0), dim=1).values
        keep = (arange - group_start < self.per_bin) & (key != _MAX_KEY)
        o2 = torch.sort(torch.where(keep, arange, n), dim=1).indices[:, : self.res_index.shape[1]]
        chosen = o.gather(1, o2)
        kept = keep.gather(1, o2)
        self.res_values = torch.where(kept, values.gather(1, chosen), torch.nan)
        self.res_index = torch.where(kept, index.gather(1, chosen), -1)

    def _cuts(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per bin [U, bins]: whether it holds `per_bin` entries, and their highest priority."""
        valid = self.res_index >= 0
        units = torch.arange(self.n_units, device=valid.device).view(-1, 1)
        rel = self._bin_of(self.res_values).clamp(0, self.bins - 1)
        rel = torch.where(valid, rel, 0)
        count = torch.zeros_like(self.hist).scatter_add_(1, rel, valid.to(torch.int64))
        prio = torch.where(valid, priority(self.res_index, units, self.seed), -1)
        cut = torch.full_like(self.hist, -1).scatter_reduce_(1, rel, prio, "amax")
        return count >= self.per_bin, cut

    # ------------------------------------------------------------------- merge

    def merge(self, other: LayerState) -> LayerState:
        """A new state holding both (exact; any order and grouping gives the same tensors)."""
        for name in ("n_units", "k", "bottom", "bins", "per_bin", "seed"):
            if getattr(self, name) != getattr(other, name):
                raise ValueError(f"cannot merge states with different {name}: "
                                 f"{getattr(self, name)} and {getattr(other, name)}")
        out = self.copy()
        dev = out.top_values.device
        o = {n: t.to(dev) for n, t in other.tensors().items()}
        for side in ("top", "bot") if self.bottom else ("top",):
            out._merge_side(side, o[f"{side}_values"], o[f"{side}_index"], o[f"{side}_pos"],
                            ordered=False)
        out.count = self.count + other.count
        out.n_positive = self.n_positive + o["n_positive"]
        out.n_nonfinite = self.n_nonfinite + o["n_nonfinite"]
        out.sum1 = exactsum.merge(self.sum1, o["sum1"])
        out.sum2 = exactsum.merge(self.sum2, o["sum2"])
        out._rebin(torch.minimum(self.vmin, o["vmin"]), torch.maximum(self.vmax, o["vmax"]))
        theirs = other.copy(dev)
        theirs._rebin(out.vmin, out.vmax)  # the same bins as `out` now
        out.hist = out.hist + theirs.hist
        finite = torch.isfinite(o["res_values"]) & (o["res_index"] >= 0)
        out._reservoir(o["res_values"], o["res_index"], finite)
        return out

    # ------------------------------------------------------------- persistence

    def tensors(self) -> dict[str, torch.Tensor]:
        """Every tensor of the state by name (for saving; equal states give equal tensors)."""
        out = {name: getattr(self, name) for name in TENSORS}
        out["sum1"], out["sum2"] = exactsum.canonical(self.sum1), exactsum.canonical(self.sum2)
        return out

    def meta(self) -> dict[str, int | bool]:
        return {"n_units": self.n_units, "k": self.k, "bottom": self.bottom, "bins": self.bins,
                "per_bin": self.per_bin, "seed": self.seed, "count": self.count}

    @classmethod
    def from_parts(cls, meta: dict[str, int | bool], tensors: dict[str, torch.Tensor],
                   device: torch.device | str | None = None) -> LayerState:
        """The state saved as (`meta`, `tensors`); the meta is checked against the tensors
        before anything is allocated (a file's header cannot ask for gigabytes)."""
        check_parts(meta, tensors)
        state = cls(meta["n_units"], meta["k"], bool(meta["bottom"]), meta["bins"],
                    meta["per_bin"], meta["seed"], device=device,
                    dtype=tensors["top_values"].dtype)
        state.count = int(meta["count"])
        for name in TENSORS:
            setattr(state, name, tensors[name].to(device) if device is not None
                    else tensors[name])
        return state

    def copy(self, device: torch.device | str | None = None) -> LayerState:
        dev = device if device is not None else self.top_values.device
        return LayerState.from_parts(self.meta(), {n: t.clone() for n, t in
                                                   self.tensors().items()}, dev)


def check_parts(meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
    """Refuse (ValueError) a saved state whose sizes in `meta` disagree with its tensors:
    the shapes are compared with those of a one-unit state of the same settings."""
    keys = ("n_units", "k", "bins", "per_bin", "seed", "count")
    if not all(isinstance(meta.get(key), int) and not isinstance(meta.get(key), bool)
               and meta[key] >= 0 for key in keys) or not all(n in tensors for n in TENSORS):
        raise ValueError(f"state header {meta} is incomplete or holds a negative size")
    if meta["k"] > 1 << 20 or meta["bins"] > 1 << 16 or meta["per_bin"] > 1 << 16:
        raise ValueError(f"state header {meta} holds implausible sizes")
    one = LayerState(1, 1, bool(meta.get("bottom")), meta["bins"], meta["per_bin"])
    expect = {name: getattr(one, name).shape for name in TENSORS}
    k_axes = ("top_values", "top_index", "top_pos", "bot_values", "bot_index", "bot_pos")
    for name, t in tensors.items():
        want = list(expect[name]) if name in expect else None
        if want is None:
            raise ValueError(f"unexpected tensor {name!r} in a saved state")
        want[0] = meta["n_units"]
        if name in k_axes and want[1] == 1:
            want[1] = meta["k"]
        if list(t.shape) != want:
            raise ValueError(f"tensor {name} is {tuple(t.shape)}, the header says {tuple(want)}")
    if meta["n_units"] and meta["count"] < int(tensors["hist"].sum(1).max()):
        raise ValueError(f"count {meta['count']} is below the histogram's total")
