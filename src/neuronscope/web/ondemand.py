"""Units computed when their page is opened: one job per (section, layer, unit), or per
(section, layer) for a section that computes whole layers (the dataset examples), run on
the model thread, its progress polled by the page (see atlas/ondemand.py for what is
stored).

    POST /api/compute/{section}/{layer}/{unit}   start the job, or join the one running
    GET  /api/compute/{section}/{layer}/{unit}   {"state": "missing" | "running" | "done" |
                                                  "failed", "progress": 0..1, "error": ...}
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future
from typing import Any

from fastapi import APIRouter, HTTPException

from ..atlas.ondemand import UnitComputer
from ..atlas.sections import get_section
from ..core.errors import NeuronscopeError
from .state import Microscope

logger = logging.getLogger(__name__)
Key = tuple[str, str, int]


class OnDemand:
    """The jobs of one server: two viewers of one unit share one job.

    Example:
        >>> import tempfile
        >>> from neuronscope.atlas.store import AtlasStore
        >>> from neuronscope.web.workers import ModelThread
        >>> jobs = OnDemand(None, ModelThread())
        >>> jobs.state(AtlasStore(tempfile.mkdtemp()), ("featvis", "conv1", 0))["state"]
        'missing'
    """

    def __init__(self, computer: UnitComputer | None, thread: Any) -> None:
        self.computer, self.thread = computer, thread
        self._lock = threading.Lock()
        self._jobs: dict[Key, Future[None]] = {}
        self._progress: dict[Key, float] = {}

    def start(self, key: Key) -> Future[None]:
        """The job of `key`: the one running, or a new one on the model thread."""
        if self.computer is None:
            raise HTTPException(409, "no model: start the server with --model to compute "
                                     "units on demand")
        self.computer.check(*key)  # a bad section, layer or unit is refused at once
        with self._lock:
            job = self._jobs.get(key)
            if job is None or (job.done() and job.exception() is not None):
                self._progress[key] = 0.0
                job = self.thread.pool.submit(self._run, key)
                self._jobs[key] = job
            return job

    def _run(self, key: Key) -> None:
        def told(fraction: float) -> None:
            self._progress[key] = min(1.0, fraction)

        assert self.computer is not None
        try:
            self.computer.compute(*key, progress=told)
        except Exception:
            logger.exception("computing %s %s:%d failed", *key)
            raise
        self._progress[key] = 1.0

    def state(self, store: Any, key: Key) -> dict[str, Any]:
        """What is known of `key`: computed (on disk), running, failed or missing."""
        with self._lock:
            job = self._jobs.get(key)
        from ..atlas.view import AtlasView

        if key[2] in get_section(key[0]).computed_units(AtlasView(store), key[1]):
            return {"state": "done", "progress": 1.0, "error": None}
        if job is not None and not job.done():
            return {"state": "running", "progress": self._progress.get(key, 0.0),
                    "error": None}
        if job is not None and job.exception() is not None:
            return {"state": "failed", "progress": self._progress.get(key, 0.0),
                    "error": str(job.exception())}
        return {"state": "missing", "progress": 0.0, "error": None}


def ondemand_routes(scope: Microscope, jobs: OnDemand) -> APIRouter:
    router = APIRouter()

    def key(section: str, layer: str, unit: int) -> Key:
        try:
            found = get_section(section)
        except NeuronscopeError as exc:
            raise HTTPException(404, str(exc)) from None
        scope.view(layer, unit)  # 404 for a layer or unit the atlas lacks
        return section, layer, 0 if found.demand_scope == "layer" else unit  # one job a layer

    @router.get("/api/compute/{section}/{layer}/{unit}")
    def state(section: str, layer: str, unit: int) -> dict[str, Any]:
        return jobs.state(scope.view().store, key(section, layer, unit))

    @router.post("/api/compute/{section}/{layer}/{unit}")
    def start(section: str, layer: str, unit: int) -> dict[str, Any]:
        k = key(section, layer, unit)
        if jobs.state(scope.view().store, k)["state"] != "done":
            jobs.start(k)
        return jobs.state(scope.view().store, k)

    return router
