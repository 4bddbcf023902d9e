"""The microscope server: atlas pages, atlas files, and the live probe of a model.

Safety: files are served only from inside the atlas folder (the path is resolved,
symbolic links included, and must stay inside); uploads are capped in bytes and in
decoded pixels before any pixel is decoded; a bad upload gets a 400 (or 413) with a
message and the server goes on. `neuronscope serve` binds to 127.0.0.1 unless told
otherwise.
"""

from __future__ import annotations

import base64
import io
import threading
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from PIL import Image
from starlette.concurrency import run_in_threadpool
from starlette.middleware.trustedhost import TrustedHostMiddleware
from torch import nn

from ..atlas.store import AtlasStore
from ..core.errors import NeuronscopeError, UnitOutOfRangeError
from ..core.hooks import record
from ..core.layers import layers as list_layers
from ..core.spec import input_spec
from ..data.base import square_resize, to_chw
from ..methods.projection import project
from . import pages

MAX_UPLOAD = 8 * 1024 * 1024  # bytes
MAX_PIXELS = 16_000_000  # decoded pixels (a 4000 x 4000 photo)
FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF")  # what uploads may be
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
STATIC = ("live.html", "live.js", "style.css")


def _image_from(body: bytes, max_pixels: int) -> Image.Image:
    """Decode an uploaded image, refusing what is not one or would decode too large."""
    try:
        image = Image.open(io.BytesIO(body), formats=FORMATS)
        w, h = image.size
        if w * h > max_pixels:  # checked from the header, before decoding any pixel
            raise HTTPException(413, f"image of {w}x{h} pixels is over the limit of "
                                     f"{max_pixels:,} pixels")
        image.load()
        return _upright(image)
    except HTTPException:
        raise
    except Image.DecompressionBombError as exc:
        raise HTTPException(413, f"image over the pixel limit ({exc})") from exc
    except Exception as exc:  # noqa: BLE001 - whatever a decoder raises, the upload is bad
        raise HTTPException(400, f"not a readable {'/'.join(FORMATS)} image "
                                 f"({type(exc).__name__})") from exc


def _upright(image: Image.Image) -> Image.Image:
    """EXIF-rotated, 8-bit, alpha composited on mid-gray: what the model should see."""
    from PIL import ImageOps

    image = ImageOps.exif_transpose(image) or image
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        import numpy as np

        a = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") else max(float(a.max()), 1.0)
        image = Image.fromarray((a.clip(0, top) / top * 255 + 0.5).astype(np.uint8), "L")
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        gray = Image.new("RGBA", rgba.size, (128, 128, 128, 255))
        image = Image.alpha_composite(gray, rgba)
    return image


async def _body(request: Request, limit: int) -> bytes:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not (kind.startswith("image/") or kind == "application/octet-stream"):
        # browsers send other pages' cross-site posts as text/plain or forms; an image type
        # needs a CORS preflight, which this server never grants
        raise HTTPException(415, "send the image with Content-Type image/png (or image/jpeg, "
                                 "application/octet-stream)")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"upload over the limit of {limit:,} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"upload over the limit of {limit:,} bytes")
        chunks.append(chunk)
    if not size:
        raise HTTPException(400, "empty upload: send the image bytes as the request body")
    return b"".join(chunks)


class Live:
    """The model side of the live page: image in, every layer's activation maps out."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model.eval()
        self.spec = input_spec(model)
        if self.spec is None or self.spec.kind != "image" or len(self.spec.shape) != 3:
            raise NeuronscopeError("the live page needs an image model with an InputSpec")
        self.device = next((p.device for p in model.parameters()), torch.device("cpu"))
        example = self.spec.example(device=self.device)
        infos = list_layers(model, example)
        self.layers = [i for i in infos if i.kind in ("conv", "linear")]

    def tensor(self, image: Image.Image) -> torch.Tensor:
        c, h, w = self.spec.shape  # type: ignore[union-attr]
        image = image.convert("RGB" if c == 3 else "L")
        image = square_resize(image, h).resize((w, h))
        arr = to_chw(_hwc(image))
        if arr.shape[0] != c:
            arr = arr.mean(0, keepdim=True).expand(c, -1, -1)
        return arr

    @torch.no_grad()
    def maps(self, x: torch.Tensor) -> list[dict[str, Any]]:
        lo, hi = self.spec.value_range  # type: ignore[union-attr]
        model_x = self.spec.to_model((lo + (hi - lo) * x).unsqueeze(0)).to(self.device)
        names = [i.name for i in self.layers]
        with record(self.model, names) as rec:
            self.model(model_x)
        out = []
        for info in self.layers:
            t = rec[info.name][0].float()
            if info.unit_axis is not None and t.dim() >= 2:
                t = t.movedim(info.unit_axis - 1, 0)
            t = t.reshape(t.shape[0], *(t.shape[1:3] if t.dim() >= 3 else (1, 1)))
            top = float(t.abs().max()) or 1.0
            pixels = ((t / top).clamp(-1, 1) * 127.5 + 127.5).round().to(torch.uint8)
            out.append({"name": info.name, "c": t.shape[0], "h": t.shape[1], "w": t.shape[2],
                        "scale": top, "data": base64.b64encode(pixels.cpu().numpy()
                                                               .tobytes()).decode()})
        return out

    def project(self, x: torch.Tensor, layer: str, unit: int, method: str) -> torch.Tensor:
        """Guided backprop or deconvnet of one unit onto the image (methods/projection.py)."""
        lo, hi = self.spec.value_range  # type: ignore[union-attr]
        inp = self.spec.to_model((lo + (hi - lo) * x).unsqueeze(0)).to(self.device)
        names = [i.name for i in self.layers]
        if layer not in names:
            raise HTTPException(404, f"no live layer {layer!r}; layers: {', '.join(names)}")
        try:
            return project(self.model, inp, f"{layer}:{unit}", method)[0].cpu()
        except UnitOutOfRangeError as exc:
            raise HTTPException(404, str(exc)) from exc


def _hwc(image: Image.Image) -> Any:
    import numpy as np

    arr = np.asarray(image)
    return arr[..., None] if arr.ndim == 2 else arr


def create_app(atlas_dir: str | Path, model: nn.Module | None = None,
               max_upload: int = MAX_UPLOAD, max_pixels: int = MAX_PIXELS,
               hosts: tuple[str, ...] = LOOPBACK) -> FastAPI:
    """The FastAPI app of an atlas folder; with `model`, the live page works too.

    Requests must name one of `hosts` in their Host header (default: this machine's
    loopback names, which stops DNS-rebinding pages); ``("*",)`` accepts any.

    Example:
        >>> import tempfile
        >>> app = create_app(tempfile.mkdtemp())
        >>> "/layer/{layer}/unit/{unit}" in [r.path for r in app.routes]
        True
    """
    atlas = AtlasStore(atlas_dir)
    live = Live(model) if model is not None else None
    app = FastAPI(title="neuronscope", docs_url=None, redoc_url=None)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(hosts))

    def fresh() -> AtlasStore:
        return AtlasStore(atlas.root)  # re-read: a build may be adding sections

    def known(store: AtlasStore, layer: str) -> None:
        if layer not in store.manifest["layers"]:
            raise HTTPException(404, f"no layer {layer!r} in this atlas")

    @app.exception_handler(NeuronscopeError)
    async def bad_input(request: Request, exc: NeuronscopeError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.get("/", response_class=HTMLResponse)
    def model_page() -> str:
        return pages.model_page(fresh())

    @app.get("/layer/{layer}", response_class=HTMLResponse)
    def layer_page(layer: str) -> str:
        store = fresh()
        known(store, layer)
        return pages.layer_page(store, layer)

    @app.get("/layer/{layer}/unit/{unit}", response_class=HTMLResponse)
    def unit_page(layer: str, unit: int) -> str:
        store = fresh()
        known(store, layer)
        n = store.manifest["layers"][layer].get("facts", {}).get("n_units", 0)
        if not 0 <= unit < n:
            raise HTTPException(404, f"{layer} has units 0-{n - 1}")
        return pages.unit_page(store, layer, unit)

    @app.get("/files/{path:path}")
    def files(path: str) -> FileResponse:
        try:
            target = atlas.path(path)
            if not target.is_file():
                raise HTTPException(404, "no such file")
        except (NeuronscopeError, ValueError, OSError):  # outside, NUL bytes, names too long
            raise HTTPException(404, "no such file") from None
        return FileResponse(target)

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in STATIC:
            raise HTTPException(404, "no such file")
        text = resources.files("neuronscope.web").joinpath("static", name).read_text()
        kind = {"js": "text/javascript", "css": "text/css", "html": "text/html"}
        return Response(text, media_type=kind[name.rsplit(".", 1)[1]])

    @app.get("/live", response_class=HTMLResponse)
    def live_page() -> str:
        return resources.files("neuronscope.web").joinpath("static", "live.html").read_text()

    @app.get("/api/live/layers")
    def live_layers() -> dict[str, Any]:
        if live is None:
            return {"layers": [], "message": "start the server with --model for live probing"}
        return {"layers": [{"name": i.name, "units": i.n_units} for i in live.layers],
                "shape": list(live.spec.shape),  # type: ignore[union-attr]
                "photos": _photo_names()}

    lock = threading.Lock()  # the model's hooks are not for two requests at once

    def locked(fn: Any, *args: Any) -> Any:
        with lock:
            return fn(*args)

    @app.post("/api/live")
    async def live_maps(request: Request) -> dict[str, Any]:
        if live is None:
            raise HTTPException(409, "no model: start the server with --model")
        body = await _body(request, max_upload)

        def work() -> list[dict[str, Any]]:  # one trip to a worker thread, off the event loop
            x = live.tensor(_image_from(body, max_pixels))
            return locked(live.maps, x)

        return {"layers": await run_in_threadpool(work)}

    @app.post("/api/project/{layer}/{unit}")
    async def project(layer: str, unit: int, request: Request, method: str = "guided"
                      ) -> Response:
        if live is None:
            raise HTTPException(409, "no model: start the server with --model")
        if method not in ("guided", "deconv"):
            raise HTTPException(400, "method must be 'guided' or 'deconv'")
        body = await _body(request, max_upload)

        def work() -> torch.Tensor:
            x = live.tensor(_image_from(body, max_pixels))
            return locked(live.project, x, layer, unit, method)

        return Response(_png(await run_in_threadpool(work)), media_type="image/png")

    @app.get("/api/photo/{name}")
    def photo(name: str) -> Response:
        from ..data.photos import photo as load_photo

        if name not in _photo_names():
            raise HTTPException(404, "no such photo")
        return Response(_png(load_photo(name, size=128)), media_type="image/png")

    @app.get("/api/unit/{layer}/{unit}")
    def unit_panel(layer: str, unit: int) -> dict[str, Any]:
        store = fresh()
        known(store, layer)
        entry = store.manifest["layers"][layer]
        n = entry.get("facts", {}).get("n_units", 0)
        if not 0 <= unit < n:
            raise HTTPException(404, f"{layer} has units 0-{n - 1}")
        base = f"/files/featvis/{layer}/unit-{unit:04d}"
        return {"layer": layer, "unit": unit, "url": f"/layer/{layer}/unit/{unit}",
                "featvis": f"{base}-pos0.png" if "featvis" in entry else None,
                "top": (f"/files/examples/{layer}/unit-{unit:04d}-top.png"
                        if "examples" in entry else None)}

    return app


def _photo_names() -> list[str]:
    from ..data.photos import PHOTO_NAMES

    return list(PHOTO_NAMES)


def _png(x: torch.Tensor) -> bytes:
    from ..render.grid import to_uint8

    arr = to_uint8(x.permute(1, 2, 0) if x.dim() == 3 else x)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()
