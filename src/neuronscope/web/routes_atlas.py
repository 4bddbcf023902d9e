"""Routes that show an atlas: the model, layer and unit pages, its files, static files."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, HTMLResponse, Response

from ..core.errors import NeuronscopeError
from . import pages
from .state import Microscope

STATIC = ("live.html", "live.js", "ondemand.js", "style.css")


def atlas_routes(scope: Microscope) -> APIRouter:
    router = APIRouter()

    @router.get("/", response_class=HTMLResponse)
    def model_page() -> str:
        return pages.model_page(scope.view())

    @router.get("/layer/{layer}", response_class=HTMLResponse)
    def layer_page(layer: str) -> str:
        return pages.layer_page(scope.view(layer), layer, live=scope.probe is not None)

    @router.get("/layer/{layer}/unit/{unit}", response_class=HTMLResponse)
    def unit_page(layer: str, unit: int) -> str:
        return pages.unit_page(scope.view(layer, unit), layer, unit,
                               live=scope.probe is not None)

    @router.get("/files/{path:path}")
    def files(path: str) -> FileResponse:
        try:
            target = scope.store.path(path)
            if not target.is_file():
                raise HTTPException(404, "no such file")
        except (NeuronscopeError, ValueError, OSError):  # outside, NUL bytes, names too
            # long, broken links and link loops (OSError: see state.ServedStore)
            raise HTTPException(404, "no such file") from None
        return FileResponse(target)

    @router.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in STATIC:
            raise HTTPException(404, "no such file")
        text = resources.files("neuronscope.web").joinpath("static", name).read_text()
        kind = {"js": "text/javascript", "css": "text/css", "html": "text/html"}
        return Response(text, media_type=kind[name.rsplit(".", 1)[1]])

    @router.get("/live", response_class=HTMLResponse)
    def live_page() -> str:
        return resources.files("neuronscope.web").joinpath("static", "live.html").read_text()

    return router
