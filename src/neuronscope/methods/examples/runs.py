"""Long and parallel runs of `top_examples`: checkpoints to resume from, and merging the
shards of ranks under ``torchrun``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from neuronscope.core.datacheck import DataChangedError
from neuronscope.core.errors import NeuronscopeError, ResultFileError
from neuronscope.core.fingerprint import ContentHash

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
        reason = str(exc).split(". Compute the result again")[0].rstrip(".")
        raise ResultFileError(f"cannot resume from the checkpoint: {reason}. Delete {path} "
                              "to start the pass again.") from None
    saved = res.info.get("config")
    asked = json.loads(json.dumps(config, sort_keys=True))
    if saved != asked:
        saved = saved if isinstance(saved, dict) else {}
        differ = {k: (saved.get(k), asked.get(k)) for k in sorted(set(saved) | set(asked))
                  if saved.get(k) != asked.get(k)}
        what = "; ".join(f"{k}: saved {a!r}, now {b!r}" for k, (a, b) in differ.items())
        raise NeuronscopeError(
            f"checkpoint {path} belongs to another run ({what}; 'model' and 'data' are "
            "fingerprints of the weights and the data); delete it or pass another "
            "checkpoint path")
    done = res.info.get("batches_done")
    mine = range(config["rank"], math.ceil(config["n"] / config["batch_size"]), config["world"])
    seen = sum(min(config["n"], (b + 1) * config["batch_size"]) - b * config["batch_size"]
               for b in mine[:done]) if isinstance(done, int) and 0 <= done <= len(mine) else -1
    content = res.info.get("content")
    if (seen < 0 or not isinstance(content, dict) or content.get("count") != seen
            or any(ex.count != seen for ex in res.layers.values())):
        raise ResultFileError(f"checkpoint {path} is inconsistent (batches done {done!r}, items "
                              f"counted {content}); delete {path} to start the pass again")
    return res, done


def check_data(path: Path, saved: TopExamples, dataset: Any, batch_ids: list[int],
               batch_size: int, num_workers: int, progress: bool) -> ContentHash:
    """Re-read the items a checkpoint has already mined (no forward pass) and refuse to
    resume when their content differs from what was mined; returns their hash."""
    from tqdm.auto import tqdm

    from .mine import batches

    content = ContentHash()
    for index, batch in tqdm(batches(dataset, batch_ids, batch_size, num_workers),
                             total=len(batch_ids), desc="checking the data already mined",
                             unit="batch", disable=not progress, leave=False):
        content.add(index, batch)
    if content.state() != saved.info["content"]:
        raise DataChangedError(
            f"the data changed since checkpoint {path} was written: the {content.count:,} "
            "items it has mined differ from the same items now (same length, other content). "
            f"Delete {path} to mine the new data from the start, or give the data it was "
            "made from.")
    return content


def gather(result: TopExamples) -> TopExamples:
    """Merge every rank's result, in rank order, on every rank."""
    import torch.distributed as dist

    mine = {name: (ex.state.meta(), {k: t.cpu() for k, t in ex.state.tensors().items()})
            for name, ex in result.layers.items()}
    parts: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(parts, (mine, result.info.get("content")))
    merged = None
    for part, content in parts:
        layers = {name: LayerExamples(ex.layer, ex.shape, ex.unit_axis, ex.reduce,
                                      LayerState.from_parts(*part[name]))
                  for name, ex in result.layers.items()}
        one = TopExamples(layers, {**result.info, "content": content})
        merged = one if merged is None else merged.merge(one)
    assert merged is not None
    return merged
