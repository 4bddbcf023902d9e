"""Long and parallel runs of `top_examples`: checkpoints to resume from, and merging the
shards of ranks under ``torchrun``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from neuronscope.core.errors import NeuronscopeError, ResultFileError

from .result import LayerExamples, TopExamples
from .state import LayerState


def world() -> tuple[int, int]:
    """(rank, world size) under torch.distributed, else (0, 1)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def checkpoint_path(checkpoint: str | Path | None, rank: int, world_size: int) -> Path | None:
    """The checkpoint file of this rank (``NAME.rankR`` when several ranks run)."""
    if checkpoint is None:
        return None
    path = Path(checkpoint)
    return path.with_name(f"{path.name}.rank{rank}") if world_size > 1 else path


def resume(path: Path | None, config: dict[str, Any]) -> tuple[TopExamples, int] | None:
    """(saved result, batches done) of a checkpoint of the run `config` describes; None
    when there is none. A checkpoint of another run (other settings, weights or data) is
    refused rather than continued."""
    if path is None or not path.is_file():
        return None
    try:
        res = TopExamples.load(path)
    except ResultFileError as exc:
        raise ResultFileError(f"cannot resume from the checkpoint: {exc}. Delete {path} to "
                              "start the pass again.") from None
    saved = res.info.get("config")
    if saved != json.loads(json.dumps(config, sort_keys=True)):
        raise NeuronscopeError(
            f"checkpoint {path} belongs to another run (saved settings {saved}, asked "
            f"{config}); delete it or pass another checkpoint path")
    return res, int(res.info["batches_done"])


def gather(result: TopExamples) -> TopExamples:
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
