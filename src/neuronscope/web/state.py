"""What the server's routes share: the atlas, the model and its live probe, the upload
limits, the threads that decode uploads, and the one thread that runs the model (so two
requests never run its hooks at once)."""

from __future__ import annotations

import errno
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from fastapi import HTTPException, Request

from ..atlas.store import AtlasStore
from ..atlas.view import AtlasView
from ..core.errors import NeuronscopeError
from ..methods.live import LiveProbe
from .uploads import BODY_TIMEOUT, READ_TIMEOUT, read_body
from .workers import ModelThread, Workers

T = TypeVar("T")


def base_of(request: Request) -> str:
    """The path the app answering `request` is served at ("" at the site's root; the mount
    path of an atlas served beside others, or a proxy's prefix given to uvicorn as
    ``root_path``): every URL a page or script writes starts with it."""
    return str(request.scope.get("root_path", "")).rstrip("/")


class ServedStore(AtlasStore):
    """An atlas as the server reads it: a symbolic link loop is an OSError, as a broken
    link is, so a page leaves out what it cannot read and a file is a 404 (Python 3.11's
    Path.resolve raises RuntimeError for a loop)."""

    def path(self, relative: str) -> Path:
        """An absolute path inside the atlas (`AtlasStore.path`)."""
        try:
            return super().path(relative)
        except RuntimeError as exc:
            raise OSError(errno.ELOOP, f"symbolic link loop in {relative!r}") from exc


@dataclass
class Microscope:
    store: AtlasStore
    probe: LiveProbe | None
    max_upload: int
    max_pixels: int
    read_timeout: float = READ_TIMEOUT
    body_timeout: float = BODY_TIMEOUT
    workers: Workers = field(default_factory=Workers)
    model_thread: ModelThread = field(default_factory=ModelThread)
    mount: str | None = None  # the path it is served at beside other atlases (None: alone)
    computes: frozenset[str] = frozenset()  # the on-demand sections the server computes
    model: Any = None  # the served model (with or without a live probe)
    not_live: str = ""  # why the live probe does not take the model (a text model)
    reads_text: bool = field(init=False, default=False)  # the model is a text model

    def __post_init__(self) -> None:
        if self.model is not None:
            from ..methods.textprobe import text_codec

            try:
                self.reads_text = text_codec(self.model) is not None
            except NeuronscopeError:
                self.reads_text = False

    def view(self, layer: str | None = None, unit: int | None = None, base: str = ""
             ) -> AtlasView:
        """A view of the atlas as it is now (re-read: a build may be adding sections), its
        URLs under `base` (`base_of` a request); 404 for a layer or unit it does not have."""
        home = None
        if self.mount is not None:  # the page listing every atlas: where the mount starts
            home = base.rstrip("/").removesuffix(self.mount.rstrip("/")) + "/"
        view = AtlasView(ServedStore(self.store.root), base=base, home=home)
        view.text_probe = self.reads_text  # type: ignore[attr-defined] # pages.nav links it
        if layer is not None and layer not in view.manifest["layers"]:
            raise HTTPException(404, f"no layer {layer!r} in this atlas")
        if layer is not None and unit is not None and not 0 <= unit < view.n_units(layer):
            raise HTTPException(404, f"{layer} has units 0-{view.n_units(layer) - 1}")
        return view

    def locked(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """`fn(*args, **kwargs)` on the model thread (see `ModelThread`)."""
        return self.model_thread.call(fn, *args, **kwargs)

    async def upload(self, request: Request, work: Callable[[bytes], T]) -> T:
        """`work(body)` for an upload, on the upload threads: a slot is taken before the
        body is read (503 when none is free) and held until the work is done."""
        async with self.workers.slot():
            body = await read_body(request, self.max_upload, self.read_timeout,
                                   self.body_timeout)
            return await self.workers.run(lambda: work(body))

    def need_probe(self) -> LiveProbe:
        if self.probe is None:
            raise HTTPException(409, self.live_message())
        return self.probe

    def live_message(self, base: str = "") -> str:
        """Why the live page has nothing to show (no model, or one it does not take), and
        what would work; "" when it has a probe."""
        if self.probe is not None:
            return ""
        if self.model is None:
            return "no model: start the server with --model for live probing"
        if not self.reads_text:
            return self.not_live
        return (f"the live page needs an image or sound model; this server's model reads "
                f"text: type some into the text probe at {base}/probe")
