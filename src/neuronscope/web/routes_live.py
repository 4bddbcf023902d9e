"""Routes of the live page: every layer's maps for an uploaded input (an image or a
sound: the decoder registered for the model's input kind reads it, see decoders.py),
one unit's projection onto it, the bundled photos, and a unit's atlas panel."""

from __future__ import annotations

import base64
import io
import time
from typing import Any

import torch
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from PIL import Image

from ..atlas.sections import page_sections
from ..core.errors import AddressError, NeuronscopeError
from ..methods.projection import METHODS, project
from ..render.grid import normalize_images, signed_levels, to_uint8
from .decoders import Decoded, Limits, decoder_for
from .state import Microscope, base_of


def live_routes(scope: Microscope) -> APIRouter:
    router = APIRouter()
    limits = Limits(max_pixels=scope.max_pixels)

    def decode(probe: Any, body: bytes) -> Decoded:
        return decoder_for(probe.spec.kind).decode(body, probe.spec, limits)

    @router.get("/api/live/layers")
    def live_layers(request: Request) -> dict[str, Any]:
        if scope.probe is None:  # no model, or one the live page does not take
            return {"layers": [], "message": scope.live_message(base_of(request))}
        spec = scope.probe.spec
        decoder = decoder_for(spec.kind)
        return {"layers": [{"name": i.name, "units": i.n_units} for i in scope.probe.layers],
                "shape": list(spec.shape), "max_bytes": scope.max_upload,
                "photos": _photo_names() if "photo" in decoder.sources else [],
                **decoder.page_info(spec, limits)}

    @router.post("/api/live")
    async def live_maps(request: Request, response: Response) -> dict[str, Any]:
        probe = scope.need_probe()

        def work(body: bytes) -> dict[str, Any]:  # one trip to an upload thread
            start = time.perf_counter()
            decoded = decode(probe, body)
            out = scope.locked(_frame, probe, decoded.x)
            if decoded.shown:  # what the page shows of the input (a sound's spectrogram)
                out["input"] = decoded.shown
            spent = (time.perf_counter() - start) * 1e3
            response.headers["Server-Timing"] = f"live;dur={spent:.2f}"  # read by bench_live
            return out

        return await scope.upload(request, work)

    @router.post("/api/project/{layer}/{unit}")
    async def projection(layer: str, unit: int, request: Request, method: str = "guided"
                         ) -> Response:
        probe = scope.need_probe()
        if method not in METHODS:
            raise HTTPException(400, f"method must be one of {', '.join(METHODS)}")
        names = [i.name for i in probe.layers]
        if layer not in names:
            raise HTTPException(404, f"no live layer {layer!r}; layers: {', '.join(names)}")

        def work(body: bytes) -> torch.Tensor:
            x = probe.model_input(decode(probe, body).x)
            try:
                p = scope.locked(project, probe.model, x, f"{layer}:{unit}", method=method)
            except AddressError as exc:
                raise HTTPException(400, str(exc)) from exc
            except NeuronscopeError as exc:  # no such layer or unit
                raise HTTPException(404, str(exc)) from exc
            picture = normalize_images(p.attribution, "symmetric")[0].cpu()
            # drawn as the input is: a spectrogram's lowest band at the bottom
            return picture.flip(-2) if decoder_for(probe.spec.kind).flip_rows else picture

        return Response(_png(await scope.upload(request, work)), media_type="image/png")

    @router.get("/api/photo/{name}")
    def photo(name: str) -> Response:
        from ..data.photos import photo as load_photo

        if name not in _photo_names():
            raise HTTPException(404, "no such photo")
        return Response(_png(load_photo(name, size=128)), media_type="image/png")

    @router.get("/api/unit/{layer}/{unit}")
    def unit_panel(layer: str, unit: int, request: Request) -> dict[str, Any]:
        view = scope.view(layer, unit, base=base_of(request))
        panel: dict[str, Any] = {"layer": layer, "unit": unit, "url": view.unit_url(layer, unit)}
        for section in page_sections():
            panel.update(section.panel(view, layer, unit))
        return panel

    return router


def _frame(probe: Any, x: torch.Tensor) -> dict[str, Any]:
    """The live response to one image (on the model thread: torch work all runs there)."""
    frame = probe.frame(x)
    return {"layers": [_encode(m.name, m.maps) for m in frame.maps],
            "top": [{"name": name, "p": p} for name, p in frame.top]}


def _encode(name: str, maps: torch.Tensor) -> dict[str, Any]:
    levels, scale = signed_levels(maps)
    return {"name": name, "c": maps.shape[0], "h": maps.shape[1], "w": maps.shape[2],
            "scale": scale, "data": base64.b64encode(levels.tobytes()).decode()}


def _photo_names() -> list[str]:
    from ..data.photos import PHOTO_NAMES

    return list(PHOTO_NAMES)


def _png(x: torch.Tensor) -> bytes:
    arr = to_uint8(x.permute(1, 2, 0) if x.dim() == 3 else x)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()
