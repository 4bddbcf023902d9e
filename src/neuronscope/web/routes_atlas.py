"""Routes that show an atlas: the model, layer, unit and section pages, its files, static
files. Every page writes its URLs under the path the app is served at (`base_of`)."""

from __future__ import annotations

import re
from importlib import resources

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from ..atlas.sections import get_section
from ..core.errors import NeuronscopeError
from . import pages
from .state import Microscope, base_of

STATIC = ("live.html", "live.js", "live_sound.js", "ondemand.js", "style.css")
KINDS = {"js": "text/javascript", "css": "text/css", "html": "text/html"}


def static_routes() -> APIRouter:
    """``/static/{name}``: the pages' scripts and style sheet."""
    router = APIRouter()

    @router.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in STATIC:
            raise HTTPException(404, "no such file")
        text = resources.files("neuronscope.web").joinpath("static", name).read_text()
        return Response(text, media_type=KINDS[name.rsplit(".", 1)[1]])

    return router


def atlas_routes(scope: Microscope) -> APIRouter:
    router = APIRouter()

    @router.get("/", response_class=HTMLResponse)
    def model_page(request: Request) -> str:
        return pages.model_page(scope.view(base=base_of(request)))

    @router.get("/layer/{layer}", response_class=HTMLResponse)
    def layer_page(layer: str, request: Request) -> str:
        return pages.layer_page(scope.view(layer, base=base_of(request)), layer,
                                scope.computes)

    @router.get("/layer/{layer}/unit/{unit}", response_class=HTMLResponse)
    def unit_page(layer: str, unit: int, request: Request) -> str:
        return pages.unit_page(scope.view(layer, unit, base=base_of(request)), layer, unit,
                               scope.computes)

    @router.get("/section/{name}", response_class=HTMLResponse)
    def section_page(name: str, request: Request) -> str:
        try:
            section = get_section(name)
        except NeuronscopeError:
            raise HTTPException(404, f"no section {name!r}") from None
        html = pages.section_page(scope.view(base=base_of(request)), section)
        if html is None:
            raise HTTPException(404, f"the {name} section has no page in this atlas")
        return html

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

    router.include_router(static_routes())

    @router.get("/live", response_class=HTMLResponse)
    def live_page(request: Request) -> str:
        return live_html(pages.nav(scope.view(base=base_of(request))), base_of(request))

    return router


def live_html(nav: str, base: str) -> str:
    """The live page (static/live.html) served under `base`: its links and the scripts'
    requests (``data-base``, read by live.js) start with `base`, its links atop are `nav`."""
    text = resources.files("neuronscope.web").joinpath("static", "live.html").read_text()
    quoted = base.replace("&", "&amp;").replace('"', "&quot;")
    text = (text.replace('href="/', f'href="{quoted}/').replace('src="/', f'src="{quoted}/')
            .replace('data-base=""', f'data-base="{quoted}"'))
    return re.sub(r"<nav>.*?</nav>", lambda _: nav, text, count=1, flags=re.S)
