"""Uploaded images: read the body within a byte limit, decode within a pixel limit, and
turn the picture into the image tensor a model expects. Anything else is refused with a
400, 413 or 415 that says why."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import torch
from fastapi import HTTPException, Request
from PIL import Image, ImageOps

from ..data.base import square_resize, to_chw

MAX_UPLOAD = 8 * 1024 * 1024  # bytes
MAX_PIXELS = 16_000_000  # decoded pixels (a 4000 x 4000 photo)
FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF")  # what uploads may be


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused when it is not sent as an image or is over `limit` bytes."""
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


def decode(body: bytes, max_pixels: int) -> Image.Image:
    """Decode an uploaded image, refusing what is not one or would decode too large."""
    try:
        image = Image.open(io.BytesIO(body), formats=FORMATS)
        w, h = image.size
        if w * h > max_pixels:  # checked from the header, before decoding any pixel
            raise HTTPException(413, f"image of {w}x{h} pixels is over the limit of "
                                     f"{max_pixels:,} pixels")
        image.load()
        return upright(image)
    except HTTPException:
        raise
    except Image.DecompressionBombError as exc:
        raise HTTPException(413, f"image over the pixel limit ({exc})") from exc
    except Exception as exc:  # noqa: BLE001 - whatever a decoder raises, the upload is bad
        raise HTTPException(400, f"not a readable {'/'.join(FORMATS)} image "
                                 f"({type(exc).__name__})") from exc


def upright(image: Image.Image) -> Image.Image:
    """EXIF-rotated, 8-bit, alpha composited on mid-gray: what the model should see."""
    image = ImageOps.exif_transpose(image) or image
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") else max(float(a.max()), 1.0)
        image = Image.fromarray((a.clip(0, top) / top * 255 + 0.5).astype(np.uint8), "L")
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        gray = Image.new("RGBA", rgba.size, (128, 128, 128, 255))
        image = Image.alpha_composite(gray, rgba)
    return image


def to_tensor(image: Image.Image, shape: tuple[int, ...]) -> torch.Tensor:
    """The picture centre-cropped and resized to `shape` (C, H, W), values in [0, 1]."""
    c, h, w = shape
    image = square_resize(image.convert("RGB" if c == 3 else "L"), h).resize((w, h))
    arr = to_chw(_hwc(image))
    if arr.shape[0] != c:
        arr = arr.mean(0, keepdim=True).expand(c, -1, -1)
    return arr


def _hwc(image: Image.Image) -> Any:
    arr = np.asarray(image)
    return arr[..., None] if arr.ndim == 2 else arr
