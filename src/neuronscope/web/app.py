"""The microscope server: atlas pages, atlas files, and the live probe of a model.

Routes come in two groups: routes_atlas.py (pages and files of the atlas) and
routes_live.py (the live page's API); state.py holds what they share and uploads.py
reads uploaded images.

Safety: files are served only from inside the atlas folder (the path is resolved,
symbolic links included, and must stay inside; a broken link or a link loop is a 404);
uploads are capped in bytes and in decoded pixels before any pixel is decoded; a bad
upload gets a 400 (or 413) with a message and the server goes on. `neuronscope serve`
binds to 127.0.0.1 unless told otherwise, and requests must name an allowed host (no
DNS rebinding).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.middleware.trustedhost import TrustedHostMiddleware
from torch import nn

from ..core.errors import NeuronscopeError
from ..methods.live import LiveProbe
from .routes_atlas import atlas_routes
from .routes_live import live_routes
from .state import Microscope, ServedStore
from .uploads import MAX_PIXELS, MAX_UPLOAD

LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


def create_app(atlas_dir: str | Path, model: nn.Module | None = None,
               max_upload: int = MAX_UPLOAD, max_pixels: int = MAX_PIXELS,
               hosts: tuple[str, ...] = LOOPBACK) -> FastAPI:
    """The FastAPI app of an atlas folder; with `model`, the live page works too.

    Requests must name one of `hosts` in their Host header (default: this machine's
    loopback names, which stops DNS-rebinding pages); ``("*",)`` accepts any.

    Example:
        >>> import tempfile
        >>> app = create_app(tempfile.mkdtemp())
        >>> "/layer/{layer}/unit/{unit}" in app.openapi()["paths"]
        True
    """
    scope = Microscope(ServedStore(atlas_dir), LiveProbe(model) if model is not None else None,
                       max_upload, max_pixels)
    app = FastAPI(title="neuronscope", docs_url=None, redoc_url=None)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(hosts))

    @app.exception_handler(NeuronscopeError)
    async def bad_input(request: Request, exc: NeuronscopeError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    app.include_router(atlas_routes(scope))
    app.include_router(live_routes(scope))
    return app
