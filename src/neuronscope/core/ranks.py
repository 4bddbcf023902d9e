"""Several processes sharing one job (torch.distributed, as under ``torchrun``): which
process this is, and the few collective steps a shared job needs.

`Ranks` describes this process's place (rank 0 of 1 without torch.distributed) and
moves plain Python objects (pickled by torch.distributed, tensors included) between
the processes: `share` from rank 0 to every rank, `gather` to rank 0, `all_gather`,
`all_sum` (a tensor summed over the ranks),
`on_writer` (run on rank 0, its result or error on every rank) and `same`, which stops
every rank when they disagree on something that must be equal.
With one process each step is a plain return, so the same code serves both.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import NeuronscopeError


class RanksDisagreeError(NeuronscopeError):
    """The processes of one job were given different models, data or settings."""


@dataclass(frozen=True)
class Ranks:
    """This process's `rank` among `world` processes; rank 0 is the one that writes.

    Example:
        >>> ranks = Ranks.current()       # no process group: a job of one
        >>> ranks.rank, ranks.world, ranks.writer
        (0, 1, True)
        >>> ranks.share({"plan": [1, 2]}), ranks.gather("mine"), ranks.all_gather(3)
        ({'plan': [1, 2]}, ['mine'], [3])
    """

    rank: int = 0
    world: int = 1

    @classmethod
    def current(cls) -> Ranks:
        """The ranks of the initialized default process group, else rank 0 of 1. A process
        that torchrun started as one of several, with no process group, is refused: each
        would do the whole job and write the same files."""
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            return cls(dist.get_rank(), dist.get_world_size())
        world = os.environ.get("WORLD_SIZE", "1")
        if world.isdigit() and int(world) > 1:
            raise NeuronscopeError(
                f"this process is one of {world} that torchrun started, but no process group "
                "joins them: call torch.distributed.init_process_group('gloo') (or 'nccl' on "
                "GPUs) first in every process, or run a single process")
        return cls()

    @property
    def writer(self) -> bool:
        """Whether this process writes the job's files (rank 0)."""
        return self.rank == 0

    def share(self, value: Any) -> Any:
        """Rank 0's `value`, on every rank (what the others pass is ignored)."""
        if self.world == 1:
            return value
        import torch.distributed as dist

        box = [value if self.writer else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, value: Any) -> list[Any] | None:
        """Every rank's `value`, in rank order, on rank 0; None on the other ranks."""
        if self.world == 1:
            return [value]
        import torch.distributed as dist

        got: list[Any] | None = [None] * self.world if self.writer else None
        dist.gather_object(value, got, dst=0)
        return got

    def all_gather(self, value: Any) -> list[Any]:
        """Every rank's `value`, in rank order, on every rank."""
        if self.world == 1:
            return [value]
        import torch.distributed as dist

        got: list[Any] = [None] * self.world
        dist.all_gather_object(got, value)
        return got

    def on_writer(self, fn: Callable[[], Any]) -> Any:
        """``fn()`` run on rank 0 alone; what it returns, or the error it raised, on every
        rank (so that no rank waits for one that failed)."""
        if self.world == 1:
            return fn()
        outcome: tuple[str, Any] | None = None
        if self.writer:
            try:
                outcome = ("ok", fn())
            except Exception as exc:  # noqa: BLE001 - raised again below, on every rank
                outcome = ("error", picklable(exc))
        kind, value = self.share(outcome)
        if kind == "error":
            raise value
        return value

    def all_sum(self, tensor: Any) -> Any:
        """`tensor` replaced in place by its sum over every rank (and returned)."""
        if self.world > 1:
            import torch.distributed as dist

            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def barrier(self) -> None:
        """Wait until every rank gets here."""
        self.all_gather(None)

    def same(self, values: dict[str, Any], what: str) -> None:
        """Stop every rank with a `RanksDisagreeError` unless all ranks passed equal
        `values` (a dict of named, comparable values; `what` says whose they are)."""
        every = self.all_gather(values)
        differ = sorted({k for other in every[1:] for k in values if other.get(k) != every[0][k]})
        if differ:
            detail = "; ".join(f"{k}: " + ", ".join(f"rank {r} {v.get(k)!r}"
                                                    for r, v in enumerate(every))
                               for k in differ)
            raise RanksDisagreeError(
                f"the {self.world} processes were given different {what} ({detail}); start "
                "every rank with the same model, data and options")


def picklable(exc: Exception) -> Exception:
    """`exc`, or an error with its message where it cannot be sent to the other ranks."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - any failure: send the message alone
        return NeuronscopeError(f"{type(exc).__name__}: {exc}")
