"""`top_examples`: one streaming pass over a dataset for every unit of chosen layers.

The pass is resumable (``checkpoint=``: the state is saved atomically every few
batches and a rerun continues where the file says) and runs sharded under
``torchrun``: each rank takes every world-size-th batch and the ranks' states are
merged at the end. Because the state merges exactly (see `state.py`), a resumed or
sharded run ends with the same tensors as one uninterrupted pass.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset

from neuronscope.core.errors import NeuronscopeError
from neuronscope.core.hooks import tap
from neuronscope.core.layers import LayerInfo, eval_mode
from neuronscope.core.layers import layers as list_layers
from neuronscope.core.units import Unit

from .result import LayerExamples, TopExamples
from .state import LayerState

logger = logging.getLogger(__name__)

REDUCE = ("max", "mean")
DEFAULT_KINDS = ("conv", "linear", "recurrent")  # the layers mined when none are named
FLUSH_ROWS = 2048  # reduced activations are buffered and fed to the states this many at once
_INPUT_KEYS = ("image", "input", "x", "inputs")


def batch_input(batch: Any) -> Any:
    """The model input of a collated batch: the tensor, the first element, or a dict's
    ``image`` / ``input`` / ``x`` entry."""
    if isinstance(batch, torch.Tensor):
        return batch
    if isinstance(batch, (tuple, list)):
        return batch[0]
    if isinstance(batch, dict):
        for key in _INPUT_KEYS:
            if key in batch:
                return batch[key]
        raise NeuronscopeError(f"dataset items are dicts without an input key; expected one "
                               f"of {_INPUT_KEYS}, got {sorted(batch)}")
    raise NeuronscopeError(f"cannot find the input in a batch of type {type(batch).__name__}")


def as_dataset(data: Any) -> Dataset:
    if isinstance(data, torch.Tensor):
        return TensorDataset(data)
    if isinstance(data, Dataset) or hasattr(data, "__getitem__") and hasattr(data, "__len__"):
        return data
    raise NeuronscopeError(f"data must be a Dataset or a tensor of inputs, got "
                           f"{type(data).__name__}")


def _world() -> tuple[int, int]:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _choose_layers(model: nn.Module, example: Any, layers: Any) -> list[LayerInfo]:
    infos = {info.name: info for info in list_layers(model, example)}
    if layers is None:
        chosen = [i for i in infos.values() if i.kind in DEFAULT_KINDS]
        if not chosen:
            raise NeuronscopeError("the model has no conv, linear or recurrent layer; "
                                   "name the layers")
        return chosen
    names = [layers] if isinstance(layers, (str, Unit)) else list(layers)
    out = []
    for name in names:
        unit = Unit.parse(name)
        if not unit.is_layer:
            raise NeuronscopeError(f"top_examples takes layers, not the unit {unit}")
        if unit.layer not in infos:
            from neuronscope.core.units import find_module, suggest

            find_module(model, unit.module_path)  # unknown module: error with suggestions
            close = suggest(unit.layer, list(infos))
            raise NeuronscopeError(f"{unit.layer} is not a tensor output of the model; "
                                   f"close: {', '.join(close) or 'none'}")
        out.append(infos[unit.layer])
    for info in out:
        if info.calls > 1:
            raise NeuronscopeError(f"{info.name} runs {info.calls} times in one forward pass; "
                                   "its examples would mix the calls. Pick another layer.")
    return out


def _reduce(t: torch.Tensor, axis: int | None, how: str
            ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """[B, ...] -> per-unit values [B, U] and flat positions of the maximum [B, U] (or None)."""
    if axis is None:
        return t.reshape(t.shape[0], 1), None
    flat = t.movedim(axis, 1).reshape(t.shape[0], t.shape[axis], -1)
    if t.dim() == 2:
        return flat[:, :, 0], None
    peak, where = flat.max(dim=2)
    return (peak if how == "max" else flat.mean(dim=2)), where


def _reduce_for(state: LayerState, t: torch.Tensor, axis: int | None, how: str
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Like `_reduce`, but the position of the maximum (an argmax, which costs five times
    a max) is found only where the value can still enter the state's top or bottom k."""
    if axis is None:
        return t.reshape(t.shape[0], 1), None
    flat = t.movedim(axis, 1).reshape(t.shape[0], t.shape[axis], -1)
    if t.dim() == 2:
        return flat[:, :, 0], None
    values = flat.amax(dim=2) if how == "max" else flat.mean(dim=2)
    if state.count < state.k:
        maybe = torch.ones_like(values, dtype=torch.bool)
    else:  # the state only gets stricter until these values reach it: a superset
        top = state.top_values[:, -1].to(values)
        maybe = (values >= top) | torch.isnan(values)
        if state.bottom:
            bot = state.bot_values[:, -1].to(values)
            maybe |= (values <= bot) | torch.isnan(bot)
    pos = torch.full(values.shape, -1, dtype=torch.int64, device=values.device)
    rows, units = maybe.nonzero(as_tuple=True)
    if len(rows):
        pos[rows, units] = flat[rows, units].argmax(dim=1)
    return values, pos


def _param_dtype(model: nn.Module) -> torch.dtype:
    return next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)


def model_fingerprint(model: nn.Module) -> str:
    """A short hash of every parameter and buffer (names, shapes and values)."""
    import hashlib

    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        h.update(f"{name}{tuple(t.shape)}{t.dtype}".encode())
        h.update(t.detach().to("cpu").contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def data_fingerprint(dataset: Dataset, samples: int = 8) -> str:
    """A short hash of the dataset's length and a few of its inputs (first, last, between)."""
    import hashlib

    n = len(dataset)
    h = hashlib.sha256(str(n).encode())
    for i in sorted({round(j * (n - 1) / max(1, samples - 1)) for j in range(samples)}):
        x = torch.as_tensor(batch_input(dataset[i])).detach().cpu().contiguous()
        h.update(x.view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def _fingerprint(cfg: dict[str, Any]) -> str:
    return json.dumps(cfg, sort_keys=True)


def _load_checkpoint(path: Path, cfg: dict[str, Any]) -> tuple[TopExamples, int] | None:
    if not path.is_file():
        return None
    res = TopExamples.load(path)
    saved = res.info.get("config")
    if saved != json.loads(_fingerprint(cfg)):
        raise NeuronscopeError(
            f"checkpoint {path} belongs to another run (saved settings {saved}, asked "
            f"{cfg}); delete it or pass another checkpoint path")
    return res, int(res.info["batches_done"])


def top_examples(
    model: nn.Module, data: Any, layers: Any = None, k: int = 9, reduce: str = "max",
    bottom: bool = True, batch_size: int = 256, progress: bool = True,
    checkpoint: str | Path | None = None, checkpoint_every: int = 20, num_workers: int = 0,
    bins: int = 64, per_bin: int = 4, seed: int = 0, shard: tuple[int, int] | None = None,
) -> TopExamples:
    """The inputs that drive every unit of `layers` most (and least), in one pass.

    `data` is a Dataset (items: a tensor, a tuple whose first element is the input,
    or a dict with an ``image`` / ``input`` key) or a tensor of inputs. `layers`
    defaults to every conv, linear and recurrent layer. Per unit the k highest and lowest
    activations are kept with dataset index and the position of the maximum, plus
    mean, std, fraction positive, a histogram and random examples per quantile band
    (see `LayerExamples`). Memory stays constant in the dataset size. Values keep the
    model's precision (float64 models: float64). NaN activations rank above every
    number, as in ``torch.sort``.

    With `checkpoint` (a file path) the state is saved every `checkpoint_every`
    batches; a rerun after an interruption resumes there and gives exactly the
    uninterrupted result. Under ``torchrun`` each rank mines its share of batches and
    every rank returns the merged result (equal to a single-process run). Without
    torch.distributed, ``shard=(i, n)`` mines only batches i, i + n, i + 2n, ... (with
    dataset indices kept global), so that ``TopExamples.merge`` of the n shards equals
    the whole pass.

    Example:
        >>> import torch, torch.nn as nn
        >>> model = nn.Sequential(nn.Linear(3, 2))
        >>> res = top_examples(model, torch.eye(3), k=1, progress=False)
        >>> res["0"].indices.shape
        torch.Size([2, 1])
    """
    if reduce not in REDUCE:
        raise ValueError(f"reduce must be one of {REDUCE}, got {reduce!r}")
    if k < 1 or batch_size < 1:
        raise ValueError(f"k and batch_size must be positive, got k={k}, batch_size={batch_size}")
    dataset = as_dataset(data)
    n = len(dataset)
    if n == 0:
        raise NeuronscopeError("the dataset is empty")
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    example = _to(batch_input(next(iter(DataLoader(Subset(dataset, [0]), batch_size=1)))),
                  device)
    if shard is not None:
        rank, world = int(shard[0]), int(shard[1])
        if not 0 <= rank < world:
            raise ValueError(f"shard must be (i, n) with 0 <= i < n, got {shard}")
    else:
        rank, world = _world()
    with eval_mode(model):
        infos = _choose_layers(model, example, layers)
        cfg = {"layers": [i.name for i in infos], "k": k, "reduce": reduce, "bottom": bottom,
               "bins": bins, "per_bin": per_bin, "seed": seed, "batch_size": batch_size,
               "n": n, "rank": rank, "world": world, "model": model_fingerprint(model),
               "data": data_fingerprint(dataset)}
        path = None
        if checkpoint is not None:
            path = Path(checkpoint)
            path = path.with_name(f"{path.name}.rank{rank}") if world > 1 else path
        resumed = _load_checkpoint(path, cfg) if path is not None else None
        if resumed is not None:
            states = {name: ex.state.copy(device) for name, ex in resumed[0].layers.items()}
            done = resumed[1]
        else:
            dtype = torch.float64 if _param_dtype(model) == torch.float64 else torch.float32
            states = {i.name: LayerState(i.n_units, k, bottom, bins, per_bin, seed, device, dtype)
                      for i in infos}
            done = 0
        mine = list(range(rank, math.ceil(n / batch_size), world))

        def save(batches_done: int) -> None:
            if path is not None:
                info = {"config": cfg, "batches_done": batches_done}
                _result(infos, states, reduce, info).save(path)

        _mine(model, dataset, infos, states, reduce, mine, done, batch_size, num_workers,
              progress and rank == 0, save, checkpoint_every)
    result = _result(infos, states, reduce, {"config": cfg, "batches_done": len(mine)})
    if world > 1 and shard is None:
        result = _gather(result)
    result.info = {"n": n, "k": k, "reduce": reduce, "layers": cfg["layers"]}
    return result


def _to(x: Any, device: torch.device) -> Any:
    if isinstance(x, torch.Tensor):
        return x.to(device, non_blocking=True)
    if isinstance(x, dict):
        return {key: _to(v, device) for key, v in x.items()}
    if isinstance(x, (tuple, list)):
        return type(x)(_to(v, device) for v in x)
    return x


def _batches(dataset: Dataset, batch_ids: list[int], batch_size: int, num_workers: int
             ) -> Iterator[tuple[torch.Tensor, Any]]:
    n = len(dataset)
    indices = [i for b in batch_ids for i in range(b * batch_size, min(n, (b + 1) * batch_size))]
    loader = DataLoader(Subset(dataset, indices), batch_size=batch_size, shuffle=False,
                        num_workers=num_workers)
    for b, batch in zip(batch_ids, loader, strict=True):
        first = b * batch_size
        yield torch.arange(first, first + len(batch_input(batch))), batch


def _mine(model: nn.Module, dataset: Dataset, infos: list[LayerInfo],
          states: dict[str, LayerState], reduce: str, mine: list[int], done: int,
          batch_size: int, num_workers: int, progress: bool, save: Any, every: int) -> None:
    from tqdm.auto import tqdm

    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    axis = {i.name: i.unit_axis for i in infos}
    current: dict[str, torch.Tensor] = {}
    pending: dict[str, list[tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]]] = {
        i.name: [] for i in infos}

    def observe(name: str, t: torch.Tensor) -> None:
        values, pos = _reduce_for(states[name], t.detach(), axis[name], reduce)
        pending[name].append((values, current["index"].to(values.device), pos))

    def flush() -> None:
        """Feed the buffered batches to the states at once (fewer, larger steps)."""
        for name, parts in pending.items():
            if parts:
                pos = None if parts[0][2] is None else torch.cat([q for _, _, q in parts])
                states[name].update(torch.cat([v for v, _, _ in parts]),
                                    torch.cat([i for _, i, _ in parts]), pos)
                parts.clear()

    todo = mine[done:]
    rows = 0
    with tqdm(total=len(mine), initial=done, desc="top examples", unit="batch",
              disable=not progress, leave=False, mininterval=0.5) as bar, \
            torch.no_grad(), tap(model, [i.name for i in infos], observe):
        for step, (index, batch) in enumerate(_batches(dataset, todo, batch_size, num_workers)):
            current["index"] = index
            model(_to(batch_input(batch), device))
            rows += len(index)
            # until a state holds k examples, every value needs its position: fill it first
            if rows >= FLUSH_ROWS or any(st.count < st.k for st in states.values()):
                flush()
                rows = 0
            bar.update(1)
            if (done + step + 1) % every == 0 and done + step + 1 < len(mine):
                flush()
                save(done + step + 1)
    flush()
    save(len(mine))


def _result(infos: list[LayerInfo], states: dict[str, LayerState], reduce: str,
            info: dict[str, Any]) -> TopExamples:
    layers = {i.name: LayerExamples(i.name, i.shape, i.unit_axis, reduce, states[i.name])
              for i in infos}
    return TopExamples(layers, info)


def _gather(result: TopExamples) -> TopExamples:
    """Merge every rank's result, in rank order, on every rank."""
    import torch.distributed as dist

    mine = {name: (ex.state.meta(), {k: t.cpu() for k, t in ex.state.tensors().items()})
            for name, ex in result.layers.items()}
    parts: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(parts, mine)
    merged = None
    for part in parts:
        layers = {name: LayerExamples(ex.layer, ex.shape, ex.unit_axis, ex.reduce,
                                      LayerState.from_parts(*part[name]))
                  for name, ex in result.layers.items()}
        one = TopExamples(layers, result.info)
        merged = one if merged is None else merged.merge(one)
    assert merged is not None
    return merged
