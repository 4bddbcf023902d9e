"""The two passes of a dissection, shared by the processes of a job and resumable.

Under torch.distributed (``torchrun``) each rank reads batches rank, rank + world, ...;
after the thresholds pass the ranks pool their top values (the top k of a union is the
top k of the parts' top k), after the IoU pass they add their sums (counts of pixels:
exact in float64), so every rank ends with the result of one process. With `checkpoint`
(a file; ``NAME.rankR`` per rank) the state is saved every `every` batches and after the
first pass; a rerun of the same job (same model, data and settings) resumes there and
ends in the same result, and a checkpoint of another job is refused.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from neuronscope.core import store
from neuronscope.core.behind import Behind
from neuronscope.core.errors import NeuronscopeError
from neuronscope.core.fingerprint import model_fingerprint, quick_fingerprint
from neuronscope.core.ranks import Ranks

from .iou import IoUTally, concept_pixels
from .stream import batches, masks_of
from .thresholds import TopInputs, TopQuantile, peaks

FORMAT = "neuronscope.dissect-checkpoint"
VERSION = 2  # 2: each unit's smallest value (`least`)


class Passes:
    """This rank's share of a dissection's two passes over `data` for `infos`' layers."""

    def __init__(self, model: Any, data: Any, infos: list[Any], settings: dict[str, Any],
                 checkpoint: str | Path | None, every: int, shared: bool = True) -> None:
        self.model, self.data, self.settings, self.every = model, data, settings, every
        self.ranks = Ranks.current() if shared else Ranks()
        self.bs, n = settings["batch_size"], len(data)
        self.mine = list(range(self.ranks.rank, math.ceil(n / self.bs), self.ranks.world))
        self.tops = {i.name: TopQuantile(i.n_units, n * math.prod(i.shape[1:]),
                                         settings["quantile"], seed=settings["seed"])
                     for i in infos}
        self.config: dict[str, Any] = {}
        if checkpoint is not None or self.ranks.world > 1:  # what a resumed or shared job
            self.config = {**{k: v for k, v in settings.items() if k != "turn"},  # must match
                           "layers": list(self.tops), "n": n,
                           "model": model_fingerprint(model), "data": quick_fingerprint(data)}
            self.ranks.same({"config": self.config}, "dissection settings")
        self.path = None if checkpoint is None else Path(checkpoint)
        if self.path is not None and self.ranks.world > 1:
            self.path = self.path.with_name(f"{self.path.name}.rank{self.ranks.rank}")
        self.stage, self.done = "thresholds", 0
        self.tallies: dict[str, IoUTally] = {}
        self.shown = {name: TopInputs(len(t.top)) for name, t in self.tops.items()}
        self._resume()

    def run(self, progress: bool) -> None:
        """Both passes (from where a checkpoint left off); then every rank holds the
        pooled thresholds, tallies and top inputs."""
        if self.stage == "thresholds":
            self._pass("dissection: thresholds", self._thresholds, progress)
            for top in self.tops.values():  # pool the ranks. top and smallest values
                parts = self.ranks.all_gather((top.top, top.least))
                top.top = torch.full((len(top.top), 0), -math.inf)
                for part, least in parts:
                    top.merge(part)
                    top.least = torch.minimum(top.least, least)
            self.stage, self.done = "iou", 0
            self._start_tallies()
            self._save()
        self._pass("dissection: IoU", self._tally, progress)
        self._pool()

    def _pass(self, what: str, analyse: Any, progress: bool) -> None:
        """One pass over this rank's batches from where it left off; each batch is
        analysed in a worker thread while the next one loads and runs (core/behind.py:
        1.68 -> 1.41 times two bare passes in bench_dissect, 2 CPU cores)."""
        turn = self.settings.get("turn") or {}
        with Behind() as behind:
            for outs, batch, b in batches(self.model, self.data, list(self.tops), self.bs,
                                          progress, what, turn, self.mine[self.done:]):
                behind.submit(analyse, outs, batch, b)
                self.done += 1
                if self.path is not None and self.done % self.every == 0:
                    behind.wait()
                    self._save()

    def _thresholds(self, outs: dict[str, torch.Tensor], _: Any, b: int) -> None:
        for name, out in outs.items():
            self.tops[name].add(out, key=b)

    def _tally(self, outs: dict[str, torch.Tensor], batch: Any, b: int) -> None:
        masks = masks_of(batch)
        area = concept_pixels(masks)  # once for every layer
        for name, out in outs.items():
            peak = peaks(out)  # once for the tally and the top inputs
            self.tallies[name].add(out, masks, area, peak)
            self.shown[name].add_peaks(peak, start=b * self.bs)

    def _start_tallies(self) -> None:
        k = len(self.settings["concepts"])
        self.tallies = {n: IoUTally(t.thresholds(), k, t.least) for n, t in self.tops.items()}

    def _pool(self) -> None:
        mine = {n: ({k: v.clone() for k, v in t.state().items()}, self.shown[n].values,
                    self.shown[n].indices) for n, t in self.tallies.items()}
        for n, tally in self.tallies.items():
            tally.inter.zero_(), tally.unit_area.zero_(), tally.concept_area.zero_()
            tally.pixels = 0
            self.shown[n] = TopInputs(len(tally.thresholds))
        for part in self.ranks.all_gather(mine):
            for n, (state, values, indices) in part.items():
                self.tallies[n].absorb(state)
                self.shown[n].merge(values, indices)

    def _save(self) -> None:
        if self.path is None:
            return
        tensors = {f"top/{n}": t.top for n, t in self.tops.items()}
        tensors.update({f"least/{n}": t.least for n, t in self.tops.items()})
        for n, tally in self.tallies.items():
            tensors.update({f"{k}/{n}": v for k, v in tally.state().items()})
            tensors.update({f"shown/{n}": self.shown[n].values,
                            f"shown_index/{n}": self.shown[n].indices})
        meta = {"config": self.config, "stage": self.stage, "done": self.done}
        store.save(self.path, tensors, meta, FORMAT, VERSION)

    def _resume(self) -> None:
        if self.path is None or not self.path.is_file():
            return
        tensors, meta = store.load(self.path, FORMAT, VERSION)
        if f"least/{next(iter(self.tops))}" not in tensors:
            raise NeuronscopeError(f"checkpoint {self.path} was written by an older neuronscope "
                                   "(it lacks each unit's smallest value); delete it to start "
                                   "again")
        if meta.get("config") != self.config:
            differ = sorted(k for k in self.config if meta.get("config", {}).get(k)
                            != self.config[k])
            raise NeuronscopeError(
                f"checkpoint {self.path} belongs to another dissection (it differs in "
                f"{', '.join(differ)}; 'model' and 'data' are fingerprints); delete it or "
                "give another checkpoint path")
        self.stage, self.done = meta["stage"], int(meta["done"])
        for n, top in self.tops.items():
            top.top, top.least = tensors[f"top/{n}"], tensors[f"least/{n}"]
        if self.stage == "iou":
            self._start_tallies()
            for n, tally in self.tallies.items():
                tally.absorb({k: tensors[f"{k}/{n}"] for k in tally.state()})
                self.shown[n].values = tensors[f"shown/{n}"]
                self.shown[n].indices = tensors[f"shown_index/{n}"]
