"""Routes of the text probe: its page (``/probe``), the text model's layers, and one unit's
value at every token of a posted text (`neuronscope.methods.textprobe`).

``POST /api/text/{layer}/{unit}`` takes ``{"text": ...}`` as application/json (a type
other sites' pages cannot post without a CORS preflight, which this server never grants)
and answers the text's pieces, the unit's values and the scale to shade them by. A body
longer than `MAX_CHARS` characters can take is refused (413) from its Content-Length,
before it is read; bad text is a 400, an unknown layer a 404 with the closest names.

``GET /api/text/layers`` lists the layers the probe can shade by, the one to start with,
and a sample text for the page (`neuronscope.methods.textprobe.sample_text`).
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from importlib import resources
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from ..core.errors import LayerNotFoundError, NeuronscopeError, UnitOutOfRangeError
from ..core.text import TextInputError
from ..methods.textprobe import (
    MAX_CHARS,
    TextTooLongError,
    probe_text,
    sample_text,
    text_codec,
    text_layers,
)
from . import pages
from .state import Microscope, base_of
from .uploads import CLOSE

BYTES_PER_CHAR = 6  # the most JSON spends on one character ("\u001f")
LIMIT = MAX_CHARS * BYTES_PER_CHAR + 1024  # bytes of a request body
START = "start the server with a text model: neuronscope serve ATLAS --model pysource-lstm " \
        "(or --model minilm)"
LONG = ("the live probe reads up to {chars:,} characters (it answers in about a second): "
        "probe a part of the text, or for long text use ns.explain_cells (cells against "
        "features of the text) or ns.top_examples (a unit's strongest windows of a dataset)")


def text_routes(scope: Microscope) -> APIRouter:
    router = APIRouter()
    found: dict[str, Any] = {}  # the model's text layers, listed once

    def need_text() -> Any:
        if scope.model is None:
            raise HTTPException(409, f"no model: {START}")
        try:
            text_codec(scope.model)
        except NeuronscopeError as exc:
            raise HTTPException(409, f"{exc}. {START}") from None
        return scope.model

    @router.get("/probe", response_class=HTMLResponse)
    def probe_page(request: Request) -> str:
        base = base_of(request)
        return static_page("probe.html", pages.nav(scope.view(base=base)), base)

    @router.get("/static/probe.js")
    def probe_script() -> Response:
        text = resources.files("neuronscope.web").joinpath("static", "probe.js").read_text()
        return Response(text, media_type="text/javascript")

    @router.get("/api/text/layers")
    def layers() -> dict[str, Any]:
        model = need_text()
        if "layers" not in found:
            found["layers"] = scope.locked(text_layers, model)
        infos = found["layers"]
        atlas = [n for n in scope.view().manifest.get("order", [])
                 if n in {i.name for i in infos}]
        most = max((i.n_units for i in infos), default=0)
        default = atlas[0] if atlas else next((i.name for i in infos if i.n_units == most), "")
        codec = text_codec(model)
        return {"layers": [{"name": i.name, "units": i.n_units} for i in infos],
                "default": default, "unit_name": codec.unit_name, "max_chars": MAX_CHARS,
                "max_tokens": codec.max_tokens, "sample": sample_text(model)}

    @router.post("/api/text/{layer}/{unit}")
    async def probe(layer: str, unit: int, request: Request) -> dict[str, Any]:
        model = need_text()
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/json":
            raise HTTPException(415, 'send the text as JSON, {"text": "..."}, with '
                                     "Content-Type application/json", headers=CLOSE)
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > LIMIT:
            raise _too_long(f"the request is {int(declared):,} bytes, more than "
                            f"{MAX_CHARS:,} characters take")
        async with scope.workers.slot():
            text = _text_of(await _read(request, scope.body_timeout))
            try:
                res = await scope.workers.run(
                    lambda: scope.locked(probe_text, model, text, layer, unit=unit))
            except TextTooLongError as exc:
                raise HTTPException(413, str(exc)) from None
            except LayerNotFoundError as exc:
                raise HTTPException(404, str(exc)) from None
            except (TextInputError, UnitOutOfRangeError, NeuronscopeError) as exc:
                raise HTTPException(400, str(exc)) from None
        values = [float(f"{v:.6g}") if math.isfinite(v) else None  # JSON has no NaN
                  for v in res.values.tolist()]
        return {"layer": res.layer, "unit": res.unit, "pieces": res.pieces,
                "special": res.special, "values": values, "unknown": res.unknown,
                "notes": res.notes, "vmax": res.vmax, "unit_name": res.unit_name}

    return router


def _too_long(what: str) -> HTTPException:
    return HTTPException(413, f"{what}: {LONG.format(chars=MAX_CHARS)}", headers=CLOSE)


async def _read(request: Request, timeout: float) -> bytes:
    """The body, at most `LIMIT` bytes (413 beyond) within `timeout` seconds (408)."""
    chunks, size = [], 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > LIMIT:
                    raise _too_long(f"the request is over {LIMIT:,} bytes")
                chunks.append(chunk)
    except TimeoutError:
        raise HTTPException(408, f"the text took over {timeout:g} s to arrive after "
                                 f"{size:,} bytes; send it at once", headers=CLOSE) from None
    return b"".join(chunks)


def _text_of(body: bytes) -> str:
    """The text of a body ``{"text": "..."}``, or a 400 saying what would be right."""
    try:
        data = json.loads(body)
    except ValueError:
        raise HTTPException(400, 'the body is not JSON: send {"text": "..."}') from None
    if not isinstance(data, dict) or not isinstance(data.get("text"), str):
        raise HTTPException(400, 'send an object with the text as a string: {"text": "..."}')
    return data["text"]


def static_page(name: str, nav: str, base: str) -> str:
    """A page of static/ served under `base`: its links and the script's requests
    (``data-base``) start with `base`, and its links atop are `nav`."""
    text = resources.files("neuronscope.web").joinpath("static", name).read_text()
    quoted = base.replace("&", "&amp;").replace('"', "&quot;")
    text = (text.replace('href="/', f'href="{quoted}/').replace('src="/', f'src="{quoted}/')
            .replace('data-base=""', f'data-base="{quoted}"'))
    return re.sub(r"<nav>.*?</nav>", lambda _: nav, text, count=1, flags=re.S)
