"""`top_examples`: one streaming pass over a dataset for every unit of chosen layers.

The pass is resumable (``checkpoint=``: the state is saved atomically every few
batches and a rerun continues where the file says) and runs sharded under
``torchrun``: each rank takes every world-size-th batch and the ranks' states are
merged at the end (runs.py). Because the state merges exactly (see `state.py`), a
resumed or sharded run ends with the same tensors as one uninterrupted pass.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from neuronscope.core.data import (
    as_dataset,
    batch_input,
    batch_size_of,
    first_batch,
    ignored_ids,
    loader,
    move,
    position_mask,
    run_model,
)
from neuronscope.core.errors import NeuronscopeError
from neuronscope.core.fingerprint import ContentHash, model_fingerprint, quick_fingerprint
from neuronscope.core.hooks import tap
from neuronscope.core.layers import LayerInfo, default_layers, eval_mode, find_layer, layer_table
from neuronscope.core.model import model_device, model_dtype
from neuronscope.core.spec import input_spec, refuse_unreadable
from neuronscope.core.units import Unit

from . import runs
from .reduce import REDUCE, reduce_for
from .result import LayerExamples, TopExamples
from .state import LayerState
from .steps import tell_past_end

logger = logging.getLogger(__name__)

FLUSH_ROWS = 2048  # reduced activations are buffered and fed to the states this many at once


def choose_layers(model: nn.Module, example: Any, layers: Any) -> list[LayerInfo]:
    """The layers to mine: those named (each must run once per pass), or by default those
    `neuronscope.core.layers.default_layers` gives: those the model declares, else every
    conv, linear and recurrent layer (without torch RNNs' final states)."""
    table = layer_table(model, example)
    if layers is None:
        chosen, left = default_layers(model, table)
        told = [f"{n} ({why})" for n, why in left.items() if "final state" not in why]
        if told:
            logger.warning("top_examples: leaving out %s; name layers to choose",
                           "; ".join(told))
        if not chosen:
            raise NeuronscopeError(
                "the model has no conv, linear or recurrent layer that runs once per pass "
                "with the batch first" + (f" (left out: {'; '.join(told)})" if told else "")
                + "; name the layers")
        return chosen
    names = [layers] if isinstance(layers, (str, Unit)) else list(layers)
    return [find_layer(model, table, name, single_call=True, layer_only=True) for name in names]


def top_examples(
    model: nn.Module, data: Any, layers: Any = None, *, k: int = 9, reduce: str = "max",
    bottom: bool = True, batch_size: int = 256, progress: bool = True,
    checkpoint: str | Path | None = None, checkpoint_every: int = 20, num_workers: int = 0,
    bins: int = 64, per_bin: int = 4, seed: int = 0, shard: tuple[int, int] | None = None,
    callback: Callable[[int, int], None] | None = None,
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
    the whole pass. `callback(done, total)` is told after each batch how many of this
    process's batches are done.

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
    refuse_unreadable(model, dataset)
    n = len(dataset)
    device = model_device(model)
    example = first_batch(dataset, device)
    rank, world = _shard(shard)
    with eval_mode(model):
        infos = choose_layers(model, example, layers)
        _past_end(model, infos, example)
        cfg = {"layers": [i.name for i in infos], "k": k, "reduce": reduce, "bottom": bottom,
               "bins": bins, "per_bin": per_bin, "seed": seed, "batch_size": batch_size,
               "n": n, "rank": rank, "world": world, "model": model_fingerprint(model),
               "data": quick_fingerprint(dataset)}
        path = runs.checkpoint_path(checkpoint, rank, world)
        resumed = runs.resume(path, cfg)
        mine = list(range(rank, math.ceil(n / batch_size), world))
        content = ContentHash()
        if resumed is not None:
            states = {name: ex.state.copy(device) for name, ex in resumed[0].layers.items()}
            done = resumed[1]
            content = runs.check_data(path, resumed[0], dataset, mine[:done], batch_size,
                                      num_workers, progress and rank == 0)
        else:
            dtype = torch.float64 if model_dtype(model) == torch.float64 else torch.float32
            states = {i.name: LayerState(i.n_units, k, bottom, bins, per_bin, seed, device, dtype)
                      for i in infos}
            done = 0

        def save(batches_done: int) -> None:
            if path is not None:
                _result(infos, states, reduce, {"config": cfg, "batches_done": batches_done,
                                                "content": content.state()}).save(path)

        _mine(model, dataset, infos, states, reduce, mine, done, batch_size, num_workers,
              progress and rank == 0, save, checkpoint_every, content, callback)
    result = _result(infos, states, reduce, {"config": cfg, "batches_done": len(mine),
                                             "content": content.state()})
    if world > 1 and shard is None:
        result = runs.gather(result)
    result.info = {"n": n, "k": k, "reduce": reduce, "layers": cfg["layers"],
                   "content": result.info["content"]}
    if result.info["content"]["count"] == n:
        result.info["data"] = ContentHash(**result.info["content"]).hexdigest()
    return result


def _shard(shard: tuple[int, int] | None) -> tuple[int, int]:
    if shard is None:
        return runs.world()
    rank, world = int(shard[0]), int(shard[1])
    if not 0 <= rank < world:
        raise ValueError(f"shard must be (i, n) with 0 <= i < n, got {shard}")
    return rank, world


def batches(dataset: Any, batch_ids: list[int], batch_size: int, num_workers: int
            ) -> Iterator[tuple[torch.Tensor, Any]]:
    """(dataset indices, batch) of the batches numbered `batch_ids`, in that order."""
    n = len(dataset)
    indices = [i for b in batch_ids for i in range(b * batch_size, min(n, (b + 1) * batch_size))]
    for b, batch in zip(batch_ids, loader(dataset, batch_size, indices, num_workers),
                        strict=True):
        first = b * batch_size
        yield torch.arange(first, first + batch_size_of(batch_input(batch))), batch


def _mine(model: nn.Module, dataset: Any, infos: list[LayerInfo],
          states: dict[str, LayerState], reduce: str, mine: list[int], done: int,
          batch_size: int, num_workers: int, progress: bool, save: Callable[[int], None],
          every: int, content: ContentHash,
          callback: Callable[[int, int], None] | None = None) -> None:
    from tqdm.auto import tqdm

    device = model_device(model)
    ignore = ignored_ids(input_spec(model))  # padding, [CLS] ...: no text, never a peak
    axis = {i.name: i.unit_axis for i in infos}
    current: dict[str, torch.Tensor] = {}
    pending: dict[str, list[tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]]] = {
        i.name: [] for i in infos}

    def observe(name: str, t: torch.Tensor) -> None:
        if t.dim() == 0 or t.shape[0] != len(current["index"]):
            raise NeuronscopeError(
                f"{name} gives {tuple(t.shape)} for a batch of {len(current['index'])}: its "
                "first axis is not the batch (an RNN's final state [layers, batch, units], "
                "or the output of one built with batch_first=False: [time, batch, units]?); "
                "top_examples needs layers with the batch first")
        values, pos = reduce_for(states[name], t.detach(), axis[name], reduce,
                                 current.get("mask"))
        pending[name].append((values, current["index"].to(values.device), pos))

    def flush() -> None:
        """Feed the buffered batches to the states at once (fewer, larger steps)."""
        for name, parts in pending.items():
            if parts:
                pos = None if parts[0][2] is None else torch.cat([q for _, _, q in parts])
                states[name].update(torch.cat([v for v, _, _ in parts]),
                                    torch.cat([i for _, i, _ in parts]), pos)
                parts.clear()

    rows = 0
    with tqdm(total=len(mine), initial=done, desc="top examples", unit="batch",
              disable=not progress, leave=False, mininterval=0.5) as bar, \
            torch.no_grad(), tap(model, [i.name for i in infos], observe):
        for step, (index, batch) in enumerate(batches(dataset, mine[done:], batch_size,
                                                      num_workers)):
            current["index"] = index
            current["mask"] = position_mask(batch_input(batch), ignore)
            content.add(index, batch)  # every item's content, while it is here anyway
            run_model(model, move(batch_input(batch), device))
            rows += len(index)
            # until a state holds k examples, every value needs its position: fill it first
            if rows >= FLUSH_ROWS or any(st.count < st.k for st in states.values()):
                flush()
                rows = 0
            bar.update(1)
            if callback is not None:
                callback(done + step + 1, len(mine))
            if (done + step + 1) % every == 0 and done + step + 1 < len(mine):
                flush()
                save(done + step + 1)
    flush()
    save(len(mine))


def _past_end(model: nn.Module, infos: list[LayerInfo], example: Any) -> None:
    """Say which layers of a model of token ids ([1, T]: the one input whose steps are
    known here) have more positions than the input has tokens (`steps.tell_past_end`)."""
    if not (isinstance(example, torch.Tensor) and example.dim() == 2
            and not example.is_floating_point()):
        return
    for info in infos:
        if info.unit_axis is not None and len(info.shape) == 2:
            positions = tuple(n for a, n in enumerate(info.shape) if a != info.unit_axis - 1)
            tell_past_end(model, info.name, positions, example.shape[-1])


def _result(infos: list[LayerInfo], states: dict[str, LayerState], reduce: str,
            info: dict[str, Any]) -> TopExamples:
    layers = {i.name: LayerExamples(i.name, i.shape, i.unit_axis, reduce, states[i.name])
              for i in infos}
    return TopExamples(layers, info)
