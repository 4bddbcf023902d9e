"""The microscope server: atlas pages, atlas files, and the live probe of a model.

Routes come in three groups: routes_atlas.py (pages and files of the atlas),
routes_live.py (the live page's API) and routes_text.py (the text probe's page and API);
state.py holds what they share, uploads.py reads upload bodies, images.py decodes them,
workers.py bounds how many are decoded at once, and server.py runs the app (request
deadlines, allowed hosts, the atlas check).
multi.py serves several atlases at once, each under ``/models/NAME/`` (`atlas_app`), with
a page that lists them (chooser.py).

Safety: files are served only from inside the atlas folder (the path is resolved,
symbolic links included, and must stay inside; a broken link or a link loop is a 404);
uploads are capped in bytes, in time and in decoded pixels before any pixel is decoded,
and are shrunk to the model's size before they are converted, a few at a time; a bad
upload gets a 4xx with a message and the server goes on. `neuronscope serve` binds to
127.0.0.1 unless told otherwise, and requests must name an allowed host (no DNS
rebinding), whatever address it binds to.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware
from torch import nn

from ..atlas.ondemand import UnitComputer, options_of
from ..atlas.schedule import model_unmet
from ..atlas.sections import sections
from ..core.errors import NeuronscopeError
from ..core.spec import input_spec
from ..methods.live import LiveProbe, NotLiveModelError
from ..render.html import esc, page
from .ondemand import OnDemand, ondemand_routes
from .routes_atlas import atlas_routes
from .routes_live import live_routes
from .routes_text import text_routes
from .server import LOOPBACK
from .state import Microscope, ServedStore, base_of
from .uploads import BODY_TIMEOUT, MAX_PIXELS, MAX_UPLOAD, READ_TIMEOUT
from .workers import QUEUE, THREADS, ModelThread, Workers, server_threads


def create_app(atlas_dir: str | Path, model: nn.Module | Callable[[], nn.Module] | None = None,
               max_upload: int = MAX_UPLOAD, max_pixels: int = MAX_PIXELS,
               hosts: tuple[str, ...] = LOOPBACK, read_timeout: float = READ_TIMEOUT,
               body_timeout: float = BODY_TIMEOUT, threads: int = THREADS,
               queue: int = QUEUE, options: dict[str, Any] | None = None,
               data: Any = None) -> FastAPI:
    """The FastAPI app of an atlas folder; with `model`, the live page works too.

    `model` may be a function that loads it: it is then loaded on the server's model
    thread (`ModelThread`), which keeps the other threads free of torch's thread teams
    (a model loaded elsewhere works, a little slower on few cores).

    Requests must name one of `hosts` in their Host header (default: this machine's
    loopback names, which stops DNS-rebinding pages; see `server.allowed_hosts`);
    ``("*",)`` accepts any. An upload must not pause for over `read_timeout` seconds nor
    take over `body_timeout` in all (408); `threads` uploads are decoded at once and
    `queue` more may wait (503 beyond).

    With a model, a unit's page computes what it lacks of the ``on_demand`` sections
    (feature visualization) and stores it in the atlas (web/ondemand.py), with the
    options the atlas was built with, or `options` (``steps``, ``n_starts``), or the
    sections' defaults; with `data` too (the atlas's dataset, or a function that loads
    it for the model), a layer's dataset examples are mined when its page is opened.

    Example:
        >>> import tempfile
        >>> app = create_app(tempfile.mkdtemp())
        >>> "/layer/{layer}/unit/{unit}" in app.openapi()["paths"]
        True
    """
    thread, workers, lifespan = server_threads(threads, queue)

    app = atlas_app(atlas_dir, model, thread, workers, max_upload=max_upload,
                    max_pixels=max_pixels, read_timeout=read_timeout,
                    body_timeout=body_timeout, options=options, lifespan=lifespan, data=data)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(hosts))
    return app


def _start(model: nn.Module) -> tuple[nn.Module, LiveProbe | None, str]:
    """The model, its live probe (None for a model the live page does not take: a text
    model is served through the text probe) and why it has none."""
    try:
        return model, LiveProbe(model), ""
    except NotLiveModelError as exc:
        return model, None, str(exc)


def atlas_app(atlas_dir: str | Path, model: nn.Module | Callable[[], nn.Module] | None,
              thread: ModelThread, workers: Workers, *, max_upload: int = MAX_UPLOAD,
              max_pixels: int = MAX_PIXELS, read_timeout: float = READ_TIMEOUT,
              body_timeout: float = BODY_TIMEOUT, options: dict[str, Any] | None = None,
              mount: str | None = None, lifespan: Any = None, data: Any = None) -> FastAPI:
    """The routes of one atlas (and its model) as an app of their own, with no host check:
    `create_app` serves one at the site's root; `neuronscope.web.multi` mounts several,
    each at its `mount` path, sharing one model `thread` and the upload `workers` (which
    the caller closes). The model is loaded now, on `thread`; ``app.state.microscope``
    is what the routes share."""
    loaded, probe, not_live = None, None, ""
    if model is not None:
        load = model if not isinstance(model, nn.Module) else lambda: model
        loaded, probe, not_live = thread.call(lambda: _start(load()))
    scope = Microscope(ServedStore(atlas_dir), probe, max_upload, max_pixels, read_timeout,
                       body_timeout, workers, thread, mount, model=loaded, not_live=not_live)
    computer = None
    if loaded is not None:
        built = {k: v for s in sections() if s.on_demand
                 for k, v in options_of(scope.store, s.name).items()}
        computer = UnitComputer(loaded, ServedStore(atlas_dir), data,
                                **{**built, **(options or {})})
        scope.computes = frozenset(s.name for s in sections() if s.on_demand
                                   and ("data" not in s.needs or data is not None)
                                   and not any(model_unmet(n, input_spec(loaded))
                                               for n in s.needs))
    jobs = OnDemand(computer, thread)

    app = FastAPI(title="neuronscope", docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.microscope = scope

    @app.exception_handler(NeuronscopeError)
    async def bad_input(request: Request, exc: NeuronscopeError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def not_found(request: Request, exc: StarletteHTTPException) -> Response:
        """A page asked for by a browser gets its error as a page, with a way back; the
        API (and any other client) the JSON it reads."""
        if request.url.path.startswith("/api/") or "text/html" not in request.headers.get(
                "accept", ""):
            return await http_exception_handler(request, exc)
        home = base_of(request) + "/"
        return HTMLResponse(page("neuronscope", f"<p><a href='{esc(home)}'>model</a></p>"
                                 f"<h1>{exc.status_code}</h1><p>{esc(str(exc.detail))}</p>"),
                            status_code=exc.status_code, headers=exc.headers)

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)  # no icon, and no 404 in the browser's log

    app.include_router(text_routes(scope))  # first: its /static/probe.js
    app.include_router(atlas_routes(scope))
    app.include_router(live_routes(scope))
    app.include_router(ondemand_routes(scope, jobs))
    return app
