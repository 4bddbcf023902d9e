"""A bounded place to decode uploads and run the model: a few threads, a short queue.

Starlette runs blocking work on a pool of 40 threads, so 16 hostile uploads posted at
once were decoded 16 at a time (5 GB). Upload routes take a slot here before they read
the body, and run their work on this pool's threads: at most `threads` uploads are
decoded at once, at most `queue` more wait (holding only their compressed bytes), and
the rest are answered 503 at once. Waiting happens on the event loop, not in a thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import TypeVar

import torch
from fastapi import HTTPException

T = TypeVar("T")
THREADS = 2  # uploads decoded at once
QUEUE = 30  # uploads that may wait for a thread


class Workers:
    """At most `threads` jobs at once and `queue` waiting; more get a 503.

    Example:
        >>> import asyncio
        >>> workers = Workers(threads=1, queue=0)
        >>> async def job():
        ...     async with workers.slot():
        ...         return await workers.run(lambda: 6 * 7)
        >>> asyncio.run(job())
        42
    """

    def __init__(self, threads: int = THREADS, queue: int = QUEUE) -> None:
        if threads < 1 or queue < 0:
            raise ValueError(f"threads must be >= 1 and queue >= 0, not {threads}, {queue}")
        self.threads, self.limit = threads, threads + queue
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="neuronscope-upload",
                                       initializer=torch.set_num_threads, initargs=(1,))
        self._busy = 0
        self._lock = threading.Lock()  # apps may be driven from several event loops

    @property
    def busy(self) -> int:
        """Slots taken now: jobs running, waiting, or still reading their upload."""
        return self._busy

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold a place for one upload, or answer 503 when every place is taken."""
        with self._lock:
            if self._busy >= self.limit:
                raise HTTPException(503, f"the server is busy with {self._busy} uploads "
                                         "(the most it takes at once); try again in a moment",
                                    headers={"Retry-After": "1"})
            self._busy += 1
        try:
            yield
        finally:
            with self._lock:
                self._busy -= 1

    async def run(self, fn: Callable[[], T]) -> T:
        """`fn()` on one of the pool's threads; a job whose client went away before it
        started is dropped."""
        return await asyncio.wrap_future(self.pool.submit(fn))

    def close(self) -> None:
        """Stop the threads once the jobs already taken are done."""
        self.pool.shutdown(wait=False, cancel_futures=True)


class ModelThread:
    """The one thread that runs the model (and every torch operation of any size) in the
    server, one job at a time.

    With torch's OpenMP backend, each thread that runs a parallel operation keeps a team
    of worker threads; once the process holds more such threads than cores, every team
    stops spin-waiting and a forward pass of efficientnet-lite0 took 2-3 times as long
    (34 against 14 ms on 2 cores, measured). So the model is loaded, probed and run here,
    with torch's usual number of threads, and the upload threads run torch with one.

    Example:
        >>> thread = ModelThread()
        >>> thread.call(lambda a, b: a * b, 6, 7)
        42
    """

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="neuronscope-model",
                                       initializer=torch.set_num_threads,
                                       initargs=(torch.get_num_threads(),))

    def call(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        """`fn(*args, **kwargs)` on the model thread; waits for it (and for the jobs
        before it)."""
        return self.pool.submit(fn, *args, **kwargs).result()

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def server_threads(threads: int, queue: int) -> tuple[ModelThread, Workers, Callable]:
    """The model thread and upload workers one server shares, and the FastAPI lifespan that
    closes them when the server stops (`create_app` and `create_multi_app` use it)."""
    thread, workers = ModelThread(), Workers(threads, queue)

    @asynccontextmanager
    async def lifespan(app: object) -> AsyncIterator[None]:
        yield
        workers.close()
        thread.close()

    return thread, workers, lifespan
