"""`TopExamples`: the result of `top_examples`, with merge, save and load."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from neuronscope.core import exactsum
from neuronscope.core.errors import ResultFileError
from neuronscope.core.fingerprint import ContentHash
from neuronscope.core.result import Result
from neuronscope.core.units import Unit

from .state import PAD_INDEX, LayerState, priority


@dataclass
class LayerExamples:
    """Dataset examples of every unit of one layer.

    ``indices`` / ``values`` [units, k]: the k inputs that drive each unit most, best
    first (ties: lower dataset index first); ``positions`` [units, k, P] the row and
    column (or time step) of the maximum, for layers with positions. ``bottom_*`` the
    same for the k lowest. Fewer than k examples seen: the rest is index -1.
    The statistics (``mean``, ``std``, ``frac_positive``, `histogram`,
    `quantile_examples`) describe the same per-example activation that is ranked:
    the unit's map reduced by ``reduce`` ("max" or "mean") over positions.
    """

    layer: str
    shape: tuple[int, ...]
    unit_axis: int | None
    reduce: str
    state: LayerState

    @property
    def n_units(self) -> int:
        return self.state.n_units

    @property
    def count(self) -> int:
        """How many examples were seen."""
        return self.state.count

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        """Sizes of the position axes (empty for a layer with one value per unit)."""
        if self.unit_axis is None:
            return ()
        return tuple(s for i, s in enumerate(self.shape) if i != self.unit_axis - 1)

    def _index(self, t: torch.Tensor) -> torch.Tensor:
        return torch.where(t == PAD_INDEX, -1, t)

    @property
    def indices(self) -> torch.Tensor:
        return self._index(self.state.top_index)

    @property
    def values(self) -> torch.Tensor:
        return self.state.top_values

    @property
    def positions(self) -> torch.Tensor:
        return self._coords(self.state.top_pos)

    @property
    def bottom_indices(self) -> torch.Tensor:
        return self._index(self.state.bot_index)

    @property
    def bottom_values(self) -> torch.Tensor:
        return self.state.bot_values

    @property
    def bottom_positions(self) -> torch.Tensor:
        return self._coords(self.state.bot_pos)

    def _coords(self, flat: torch.Tensor) -> torch.Tensor:
        """Flat positions [U, k] -> coordinates [U, k, P] (-1 where there is none)."""
        sizes = self.spatial_shape
        out = torch.full((*flat.shape, len(sizes)), -1, dtype=torch.int64)
        rest = flat.clone()
        for axis in reversed(range(len(sizes))):
            out[..., axis] = torch.where(flat >= 0, rest % sizes[axis], -1)
            rest = rest // sizes[axis]
        return out

    @property
    def mean(self) -> torch.Tensor:
        return exactsum.to_float(self.state.sum1) / max(1, self.count)

    @property
    def std(self) -> torch.Tensor:
        n = max(1, self.count)
        var = exactsum.to_float(self.state.sum2) / n - self.mean**2
        return var.clamp_min(0).sqrt()

    @property
    def frac_positive(self) -> torch.Tensor:
        return self.state.n_positive.double() / max(1, self.count)

    def histogram(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(counts [U, bins], edges [U, bins + 1]) of the per-example activations."""
        s = self.state
        j = s.hist_start.view(-1, 1) + torch.arange(s.bins + 1)
        edges = torch.ldexp(j.double(), s.hist_exp.view(-1, 1).double())
        return s.hist.clone(), edges

    def quantile_examples(self, bands: int = 5, per_band: int | None = None
                          ) -> tuple[torch.Tensor, torch.Tensor]:
        """Uniformly drawn examples from each quantile band of each unit's activations.

        Band b holds the histogram bins whose middle falls in the quantiles
        ``[b / bands, (b + 1) / bands)``. Returns (indices, values), each
        [U, bands, per_band], -1 / nan where a band has fewer examples. The draw is
        a fixed pseudo-random one (by the state's seed), the same on every run.
        """
        s = self.state
        per_band = s.per_bin if per_band is None else min(per_band, s.per_bin)
        counts = s.hist.double()
        total = counts.sum(1, keepdim=True).clamp_min(1)
        middle = (counts.cumsum(1) - counts / 2) / total
        band_of_bin = (middle * bands).floor().clamp(0, bands - 1).to(torch.int64)
        out_i = torch.full((s.n_units, bands, per_band), -1, dtype=torch.int64)
        out_v = torch.full((s.n_units, bands, per_band), math.nan)
        valid = s.res_index >= 0
        rel = s._bin_of(s.res_values).clamp(0, s.bins - 1)
        band = band_of_bin.gather(1, rel)
        units = torch.arange(s.n_units).view(-1, 1)
        prio = priority(s.res_index, units, s.seed)
        for u in range(s.n_units):
            for b in range(bands):
                pick = valid[u] & (band[u] == b)
                order = torch.argsort(prio[u][pick])[:per_band]
                out_i[u, b, : len(order)] = s.res_index[u][pick][order]
                out_v[u, b, : len(order)] = s.res_values[u][pick][order].double()
        return out_i, out_v

    def merge(self, other: LayerExamples) -> LayerExamples:
        if (self.layer, self.shape, self.reduce) != (other.layer, other.shape, other.reduce):
            raise ValueError(f"cannot merge examples of {self.layer} {self.shape} "
                             f"({self.reduce}) with {other.layer} {other.shape} ({other.reduce})")
        return LayerExamples(self.layer, self.shape, self.unit_axis, self.reduce,
                             self.state.merge(other.state))

    def meta(self) -> dict[str, Any]:
        return {"layer": self.layer, "shape": list(self.shape), "unit_axis": self.unit_axis,
                "reduce": self.reduce, "state": self.state.meta()}


@dataclass
class TopExamples(Result):
    """Dataset examples of every unit of several layers: ``res["conv3"].indices``.

    Example:
        >>> import torch, torch.nn as nn, neuronscope as ns
        >>> model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU())
        >>> res = ns.top_examples(model, torch.rand(20, 1, 8, 8), k=3, progress=False)
        >>> res["0"].indices.shape, res["0"].positions.shape
        (torch.Size([4, 3]), torch.Size([4, 3, 2]))
    """

    FORMAT = "neuronscope.top_examples"

    layers: dict[str, LayerExamples]
    info: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, layer: str) -> LayerExamples:
        key = str(Unit.parse(layer))
        if key not in self.layers:
            raise KeyError(f"{key!r} was not mined; layers: {', '.join(self.layers)}")
        return self.layers[key]

    def __iter__(self):  # noqa: ANN204
        return iter(self.layers)

    def __contains__(self, layer: object) -> bool:
        return str(layer) in self.layers

    def merge(self, other: TopExamples) -> TopExamples:
        """The examples of both runs (on disjoint parts of a dataset): exact and associative."""
        if list(self.layers) != list(other.layers):
            raise ValueError(f"cannot merge results of different layers: {list(self.layers)} "
                             f"and {list(other.layers)}")
        info = dict(self.info)
        if "content" in self.info and "content" in other.info:  # what the two runs read
            both = ContentHash(**self.info["content"]).merge(ContentHash(**other.info["content"]))
            info["content"] = both.state()
            if both.count == info.get("n"):
                info["data"] = both.hexdigest()
        return TopExamples({n: ex.merge(other.layers[n]) for n, ex in self.layers.items()},
                           info)

    def tensors(self) -> dict[str, torch.Tensor]:
        """Every tensor of every layer's state, as ``"layer/name"`` (equal runs: equal tensors)."""
        return {f"{name}/{key}": t.detach().cpu().contiguous()
                for name, ex in self.layers.items() for key, t in ex.state.tensors().items()}

    def _encode(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        return self.tensors(), {"info": self.info,
                                "layers": [ex.meta() for ex in self.layers.values()]}

    @classmethod
    def _decode(cls, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> TopExamples:
        layers = {}
        try:
            for m in meta["layers"]:
                parts = {k.split("/", 1)[1]: t for k, t in tensors.items()
                         if k.split("/", 1)[0] == m["layer"]}
                state = LayerState.from_parts(m["state"], parts)
                layers[m["layer"]] = LayerExamples(m["layer"], tuple(m["shape"]),
                                                   m["unit_axis"], m["reduce"], state)
        except (ValueError, KeyError, TypeError) as exc:
            raise ResultFileError(f"the file's header does not match its tensors ({exc}); "
                                  f"it is not a whole {cls.FORMAT} result") from None
        return cls(layers, meta.get("info", {}))
