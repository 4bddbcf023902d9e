"""Work in parts: a section's layer split into independent parts (chunks of units, or the
whole layer), shared among processes and resumed part by part.

A `Parted` section says how a layer splits (`parts`), computes one part without writing
anything (`compute_part`), writes a computed part's files (`write_part`, rank 0) and
the layer's own files once every part is in (`finish_layer`, rank 0). `run_parts` runs
the parts of many layers: with one process one after another, under ``torchrun`` the
ranks take turns (part i on rank i % N) and send each result to rank 0, which writes
it. A part is computed by the same call whatever the number of processes, so the atlas
is the same. Rank 0 records every part written (``work/<section>-<key>.json``, keyed by
the layer, its parts and the section's options), so a rerun after an interruption
computes only the parts not yet written.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..core.ranks import picklable

if TYPE_CHECKING:
    from .build import Job

logger = logging.getLogger(__name__)


def unit_chunks(n_units: int, size: int) -> list[list[int]]:
    """[first, stop) of every chunk of `size` units: the parts of a layer split by units.

    Example:
        >>> unit_chunks(5, 2)
        [[0, 2], [2, 4], [4, 5]]
    """
    return [[a, min(a + size, n_units)] for a in range(0, n_units, max(1, size))]


class Parted:
    """A mixin for a `Section` whose layer work splits into parts (see the module
    docstring); ``compute_layer`` runs the parts of one layer.

    Parts must be JSON-ready (``[first, stop)`` unit ranges, names); so must what
    `write_part` returns (it is kept in the work record until the layer is finished).
    """

    name: str
    options: dict[str, Any]

    def parts(self, job: Job, layer: str) -> list[Any]:
        """The layer's parts, the same in every process and every run (default: one)."""
        return [None]

    def settings(self, job: Job) -> dict[str, Any]:
        """What the parts' results depend on besides the model and data (default: the
        section's options); a record made with other settings is not resumed from."""
        return {name: job.option(name, self) for name in sorted(self.options)}  # type: ignore[arg-type]

    def compute_part(self, job: Job, layer: str, part: Any) -> Any:
        """Compute one part; writes nothing (it may run on any rank)."""
        raise NotImplementedError

    def write_part(self, job: Job, layer: str, part: Any, result: Any) -> Any:
        """Write one computed part's files (rank 0); returns what `finish_layer` needs of
        it, JSON-ready (default: the result itself)."""
        return result

    def finish_layer(self, job: Job, layer: str, written: list[Any]) -> dict[str, Any]:
        """Write the layer's own files from what `write_part` returned for each part, in
        part order (rank 0); returns the manifest's entry for the layer."""
        raise NotImplementedError

    def compute_layer(self, job: Job, layer: str) -> dict[str, Any]:
        entries: dict[str, dict[str, Any]] = {}
        run_parts(self, job, [layer], entries.__setitem__)
        return entries[layer]


def run_parts(worker: Parted, job: Job, layers: list[str],
              finished: Callable[[str, dict[str, Any]], None]) -> None:
    """Compute every part of `layers` not yet written, shared among the ranks; rank 0
    writes them and calls ``finished(layer, entry)`` for each finished layer. Every rank
    calls this, with the same arguments."""
    ranks = job.ranks
    plans = {layer: worker.parts(job, layer) for layer in layers}
    records = {layer: _Record(worker, job, layer, plans[layer]) for layer in layers
               } if ranks.writer else {}
    left = [(layer, i) for layer, record in records.items() for i in range(len(plans[layer]))
            if i not in record.written]
    for record in records.values():
        if record.complete():  # written before an interruption, not yet finished
            record.finish(finished)
    left = ranks.share(left)
    for start in range(0, len(left), ranks.world):
        mine = left[start + ranks.rank] if start + ranks.rank < len(left) else None
        got = ranks.gather((mine, _attempt(worker, job, plans, mine, ranks.world > 1)))
        failed = next((result for item, result in got or [] if isinstance(result, _Failed)),
                      None)
        failed = ranks.share(failed) if ranks.world > 1 else failed
        if failed is not None:  # every rank stops with the error of the rank that failed
            raise failed.error
        for item, result in got or []:
            if item is not None:
                records[item[0]].add(item[1], result, finished)


class _Failed:
    """A part that raised an error on some rank (sent to rank 0, then to every rank)."""

    def __init__(self, error: Exception) -> None:
        self.error = picklable(error)


def _attempt(worker: Parted, job: Job, plans: dict[str, list[Any]], item: Any,
             shared: bool) -> Any:
    """The result of this rank's part `item` (None for none); with `shared` ranks, an
    error is returned as `_Failed`, so that the other ranks learn of it."""
    if item is None:
        return None
    if not shared:
        return worker.compute_part(job, item[0], plans[item[0]][item[1]])
    try:
        return worker.compute_part(job, item[0], plans[item[0]][item[1]])
    except Exception as exc:  # noqa: BLE001 - raised again on every rank by run_parts
        logger.error("atlas: part %s of %s (%s) failed", item[1], item[0], worker.name,
                     exc_info=True)
        return _Failed(exc)


class _Record:
    """Rank 0's account of one layer's parts: what was written, kept in a work file."""

    def __init__(self, worker: Parted, job: Job, layer: str, parts: list[Any]) -> None:
        self.worker, self.job, self.layer, self.parts = worker, job, layer, parts
        spec = {"section": worker.name, "layer": layer, "parts": parts,
                "settings": worker.settings(job)}
        key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]
        self.file = job.store.work_file(worker.name, key, "json")
        path = job.store.path(self.file)
        try:
            saved = json.loads(path.read_text()) if path.is_file() else {}
            self.written = {int(i): v for i, v in saved["written"].items()} if saved else {}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            logger.warning("atlas: cannot read %s (%s); computing its parts again", path, exc)
            self.written = {}
        self.written = {i: v for i, v in self.written.items() if 0 <= i < len(parts)}

    def complete(self) -> bool:
        return len(self.written) == len(self.parts)

    def add(self, index: int, result: Any, finished: Callable[[str, dict[str, Any]], None]
            ) -> None:
        """Write a computed part, record it, and finish the layer when it was the last."""
        kept = self.worker.write_part(self.job, self.layer, self.parts[index], result)
        self.written[index] = json.loads(json.dumps(kept))  # as a resumed record gives it
        self.job.store.write_json(self.file, {"written": {str(i): v for i, v in
                                                          sorted(self.written.items())}})
        if self.complete():
            self.finish(finished)

    def finish(self, finished: Callable[[str, dict[str, Any]], None]) -> None:
        written = [self.written[i] for i in range(len(self.parts))]
        finished(self.layer, self.worker.finish_layer(self.job, self.layer, written))
        self.job.store.path(self.file).unlink(missing_ok=True)
