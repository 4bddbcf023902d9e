"""LCA's running record in bounded memory: per step and per layer a few numbers, per
parameter only the sum over steps; optionally every step's per-parameter allocation,
streamed to disk in safetensors shards (`StepShards`).

Memory is O(steps x layers + parameters), whatever the length of the run.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from neuronscope.core import store

from .path import Allocation
from .result import LCAResult

ROWS = ("loss", "loss_change", "total", "error", "buffer_change", "outside", "splits",
        "helping", "hurting")
SHARD_FORMAT = "neuronscope.lca-steps"


def layer_name(param: str) -> str:
    """The layer of a parameter: the module that owns it (``"(root)"`` for the model's own).

    Example:
        >>> layer_name("features.0.weight"), layer_name("scale")
        ('features.0', '(root)')
    """
    return param.rpartition(".")[0] or "(root)"


class Tally:
    """Adds up one `Allocation` per step; `result` turns the record into an `LCAResult`.

    Example:
        >>> t = Tally({"fc.weight": (1, 2)})
        >>> a = Allocation([torch.tensor([[-1.0, 0.5]], dtype=torch.float64)], -0.5, 0.0, 0)
        >>> t.add(0, a, loss=2.0, loss_change=-0.5, buffer_change=0.0, outside=0.0)
        >>> res = t.result(final_loss=1.5, method="simpson", settings={})
        >>> res.helping.tolist(), res.by_layer["fc"].tolist()
        ([0.5], [-0.5])
    """

    def __init__(self, shapes: dict[str, tuple[int, ...]]) -> None:
        self.names = list(shapes)
        self.layer_of = {n: layer_name(n) for n in self.names}
        self.layers = list(dict.fromkeys(self.layer_of.values()))
        self.sizes = {layer: 0 for layer in self.layers}
        for n, shape in shapes.items():
            self.sizes[self.layer_of[n]] += int(torch.Size(shape).numel())
        self.n_params = sum(self.sizes.values())
        self.rows: dict[str, list[float]] = {k: [] for k in (*ROWS, "steps")}
        self.layer_rows: dict[str, dict[str, list[float]]] = {
            k: {layer: [] for layer in self.layers} for k in ("sum", "helping", "hurting")}
        self.cumulative = {n: torch.zeros(shape, dtype=torch.float64)
                           for n, shape in shapes.items()}

    def add(self, step: int, a: Allocation, *, loss: float, loss_change: float,
            buffer_change: float, outside: float) -> None:
        """Record step `step`'s allocation and the losses measured around it."""
        per = {k: {layer: 0.0 for layer in self.layers} for k in ("sum", "helping", "hurting")}
        for name, part in zip(self.names, a.parts, strict=True):
            layer = self.layer_of[name]
            per["sum"][layer] += float(part.sum())
            per["helping"][layer] += int((part < 0).sum())
            per["hurting"][layer] += int((part > 0).sum())
            self.cumulative[name] += part.to("cpu")
        for kind, values in per.items():
            for layer, v in values.items():
                self.layer_rows[kind][layer].append(v)
        helping = sum(per["helping"].values()) / self.n_params
        hurting = sum(per["hurting"].values()) / self.n_params
        row = {"steps": step, "loss": loss, "loss_change": loss_change, "total": a.total,
               "error": loss_change - a.total - buffer_change, "buffer_change": buffer_change,
               "outside": outside, "splits": a.splits, "helping": helping, "hurting": hurting}
        for k, v in row.items():
            self.rows[k].append(float(v))

    def result(self, final_loss: float, method: str, settings: dict[str, Any],
               fingerprint: torch.Tensor | None = None) -> LCAResult:
        """The record so far as an `LCAResult` (``loss`` gains the loss after the last step)."""
        f64 = {k: torch.tensor(v, dtype=torch.float64) for k, v in self.rows.items()}
        count = {layer: float(n) for layer, n in self.sizes.items()}
        return LCAResult(
            steps=f64["steps"].long(), loss=torch.cat([f64["loss"], torch.tensor([final_loss],
                                                       dtype=torch.float64)]),
            loss_change=f64["loss_change"], total=f64["total"], error=f64["error"],
            buffer_change=f64["buffer_change"], outside=f64["outside"],
            splits=f64["splits"].long(), helping=f64["helping"], hurting=f64["hurting"],
            by_layer={la: torch.tensor(v, dtype=torch.float64)
                      for la, v in self.layer_rows["sum"].items()},
            layer_helping={la: torch.tensor(v, dtype=torch.float64) / count[la]
                           for la, v in self.layer_rows["helping"].items()},
            layer_hurting={la: torch.tensor(v, dtype=torch.float64) / count[la]
                           for la, v in self.layer_rows["hurting"].items()},
            cumulative={n: c.clone() for n, c in self.cumulative.items()},
            layer_of=dict(self.layer_of), layer_sizes=dict(self.sizes), method=method,
            settings=dict(settings),
            fingerprint=fingerprint if fingerprint is not None else torch.zeros(0))

    def resume(self, res: LCAResult) -> None:
        """Continue the record of a checkpointed `res` (same parameters)."""
        for k in ROWS:
            values = getattr(res, k)
            self.rows[k] = (values[:-1] if k == "loss" else values).tolist()
        self.rows["steps"] = res.steps.tolist()
        for layer in self.layers:
            n = self.sizes[layer]
            self.layer_rows["sum"][layer] = res.by_layer[layer].tolist()
            self.layer_rows["helping"][layer] = (res.layer_helping[layer] * n).round().tolist()
            self.layer_rows["hurting"][layer] = (res.layer_hurting[layer] * n).round().tolist()
        self.cumulative = {n: res.cumulative[n].clone() for n in self.names}


class StepShards:
    """Every step's per-parameter allocation, written to `folder` as safetensors shards of
    `every` steps (float32, ``name -> [steps, *shape]``); `read_steps` reads them back."""

    def __init__(self, folder: str | Path, names: list[str], every: int = 100) -> None:
        if every < 1:
            raise ValueError(f"shard_steps must be 1 or more, got {every}")
        self.folder, self.names, self.every = Path(folder), names, every
        self.folder.mkdir(parents=True, exist_ok=True)
        self.pending: list[tuple[int, list[torch.Tensor]]] = []

    def add(self, step: int, parts: list[torch.Tensor]) -> None:
        self.pending.append((step, [p.to("cpu", torch.float32) for p in parts]))
        if len(self.pending) >= self.every:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        first, last = self.pending[0][0], self.pending[-1][0]
        tensors = {n: torch.stack([parts[i] for _, parts in self.pending])
                   for i, n in enumerate(self.names)}
        tensors["(steps)"] = torch.tensor([s for s, _ in self.pending])
        store.save(self.folder / f"steps-{first:08d}-{last:08d}.safetensors", tensors, {},
                   SHARD_FORMAT, 1)
        self.pending = []

    def drop_from(self, step: int) -> None:
        """Forget the steps from `step` on (a run resumed at `step` writes them again): whole
        shards, or the end of one written part way (by a look at the result)."""
        for path, first, last in shard_paths(self.folder):
            if first >= step:
                path.unlink()
            elif last >= step:
                tensors, _ = store.load(path, SHARD_FORMAT, 1)
                keep = tensors["(steps)"] < step
                path.unlink()
                store.save(self.folder / f"steps-{first:08d}-{step - 1:08d}.safetensors",
                           {k: v[keep] for k, v in tensors.items()}, {}, SHARD_FORMAT, 1)


def shard_paths(folder: str | Path) -> list[tuple[Path, int, int]]:
    found = []
    for path in sorted(Path(folder).glob("steps-*.safetensors")):
        m = re.fullmatch(r"steps-(\d+)-(\d+)\.safetensors", path.name)
        if m:
            found.append((path, int(m.group(1)), int(m.group(2))))
    return found


def read_steps(folder: str | Path, name: str) -> torch.Tensor:
    """Parameter `name`'s allocation at every step, [steps, *shape], from the shards that
    ``ns.LCA(..., per_step=folder)`` wrote.

    Example:
        >>> import tempfile
        >>> shards = StepShards(tempfile.mkdtemp(), ["w"], every=2)
        >>> for s in range(3): shards.add(s, [torch.full((2,), float(s))])
        >>> shards.flush(); read_steps(shards.folder, "w")[:, 0].tolist()
        [0.0, 1.0, 2.0]
    """
    paths = shard_paths(folder)
    if not paths:
        raise FileNotFoundError(f"no LCA step shards (steps-*.safetensors) in {folder}")
    parts = []
    for path, _, _ in paths:
        tensors, _ = store.load(path, SHARD_FORMAT, 1)
        if name not in tensors:
            known = sorted(k for k in tensors if k != "(steps)")
            raise KeyError(f"no parameter {name!r} in the shards; they hold {known}")
        parts.append(tensors[name])
    return torch.cat(parts)
