"""Uploaded pictures as model inputs, in bounded memory.

A 93 KB TIFF can hold a 4000 x 4000 float image (64 MB decoded; 128 MB more as float64
temporaries), so an upload is made small before anything else is done with it:

- its pixel count is checked from the header, before any pixel is decoded;
- a JPEG decodes at 1/2 to 1/8 scale (Pillow's ``draft``) when the model needs fewer
  pixels; other formats decode whole (Pillow can do no less) and are shrunk at once, in
  their own mode (16-bit and float included), to twice the model's input side;
- conversions (16-bit and float to 8-bit, alpha onto mid-gray, Lab, CMYK, YCbCr) run on
  the shrunk picture; the few that must come first (1-bit, palette, colour-key
  transparency, premultiplied alpha) make 8-bit pictures, never float ones.

Whatever cannot be read or converted is refused with a 4xx that says why.
"""

from __future__ import annotations

import io
import math

import numpy as np
import torch
from fastapi import HTTPException
from PIL import Image

from ..core.errors import NeuronscopeError
from ..data.base import square_resize, to_chw

FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF")  # what uploads may be
HIGH_BIT = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")
ORIENTATION = 0x0112  # the EXIF tag
TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
             4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
             6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
             8: Image.Transpose.ROTATE_90}
GRAY = 128  # what transparent pixels become


def image_tensor(body: bytes, max_pixels: int, shape: tuple[int, ...]) -> torch.Tensor:
    """An uploaded image as the display-space input of a model of input `shape` (C, H, W):
    centre-cropped, resized, values in [0, 1]. Refused with a 400, 413 or 415 that says why.

    Example:
        >>> buf = io.BytesIO()
        >>> Image.new("I;16", (4000, 3000), 65535).save(buf, format="PNG")
        >>> x = image_tensor(buf.getvalue(), 16_000_000, (3, 16, 16))
        >>> tuple(x.shape), round(x.min().item(), 3)
        ((3, 16, 16), 1.0)
    """
    c, h, w = shape
    try:
        picture = decode(body, max_pixels, side=2 * max(h, w))
        image = square_resize(picture.convert("RGB" if c == 3 else "L"), h).resize((w, h))
    except HTTPException:
        raise
    except Image.DecompressionBombError as exc:
        raise HTTPException(413, f"image over the pixel limit ({exc})") from exc
    except UnsupportedImage as exc:
        raise HTTPException(415, str(exc)) from exc
    except Exception as exc:  # noqa: BLE001 - whatever a decoder raises, the upload is bad
        raise HTTPException(400, f"not a readable {'/'.join(FORMATS)} image "
                                 f"({type(exc).__name__}: {exc})"[:300]) from exc
    arr = np.asarray(image)
    x = to_chw(arr[..., None] if arr.ndim == 2 else arr)
    if x.shape[0] != c:
        x = x.mean(0, keepdim=True).expand(c, -1, -1)
    return x


class UnsupportedImage(NeuronscopeError):
    """An image that opens but holds pixels of a kind this server cannot convert."""


def decode(body: bytes, max_pixels: int, side: int) -> Image.Image:
    """Decode an upload into an 8-bit "L" or "RGB" picture whose shorter side is at most
    `side` (or its own, when smaller): upright by its EXIF orientation, transparent parts
    on mid-gray. Refuses (413) a picture of over `max_pixels` before decoding it."""
    image = Image.open(io.BytesIO(body), formats=FORMATS)
    w, h = image.size
    if w * h > max_pixels:
        raise HTTPException(413, f"image of {w}x{h} pixels is over the limit of "
                                 f"{max_pixels:,} pixels")
    image.draft(image.mode, (side, side))  # JPEG: decode at a reduced scale; others: no-op
    image.load()
    orientation = image.getexif().get(ORIENTATION, 1)
    image = _eight_bit_first(image)
    top = _top(image)
    image = _flatten(_shrink(image, side), top)
    method = TRANSPOSE.get(orientation)
    return image.transpose(method) if method is not None else image


def _eight_bit_first(image: Image.Image) -> Image.Image:
    """The modes that cannot be shrunk as they are, made 8-bit at full size."""
    key = image.info.get("transparency")
    if image.mode == "1":
        return image.convert("L")
    if image.mode in ("P", "PA"):
        return image.convert("RGBA" if key is not None or image.mode == "PA" else "RGB")
    if image.mode in ("La", "RGBa"):  # premultiplied alpha
        return image.convert(image.mode[:-1] + "A")
    if key is not None and image.mode in ("L", "RGB"):
        return image.convert("LA" if image.mode == "L" else "RGBA")
    if key is not None and image.mode.startswith("I;16") and isinstance(key, int):
        wide = image.convert("I")  # a 16-bit colour key: alpha from it, gray scaled to 8 bits
        gray = wide.point([(v * 255 + 32767) // 65535 for v in range(65536)], "L")
        alpha = wide.point([0 if v == key else 255 for v in range(65536)], "L")
        return Image.merge("LA", (gray, alpha))
    return image


def _top(image: Image.Image) -> float:
    """The value that becomes white: 65535 for 16-bit, else the largest finite value (at
    least 1) of a 32-bit integer or float picture, read before shrinking."""
    if image.mode.startswith("I;16"):
        return 65535.0
    if image.mode not in ("I", "F"):
        return 255.0
    high = float(image.getextrema()[1])
    if not math.isfinite(high):  # NaN or inf somewhere: the finite values decide
        arr = np.asarray(image, dtype=np.float32)
        finite = arr[np.isfinite(arr)]
        high = float(finite.max()) if finite.size else 1.0
    return max(high, 1.0)


def _shrink(image: Image.Image, side: int) -> Image.Image:
    """Box-filtered down to a shorter side of `side`, in the picture's own mode."""
    w, h = image.size
    if min(w, h) <= side:
        return image
    scale = side / min(w, h)
    return image.resize((max(1, round(w * scale)), max(1, round(h * scale))),
                        Image.Resampling.BOX)


def _flatten(image: Image.Image, top: float) -> Image.Image:
    """An 8-bit "L" or "RGB" picture: high-bit values scaled by `top`, alpha on gray."""
    mode = image.mode
    if mode in HIGH_BIT:
        arr = np.nan_to_num(np.asarray(image, dtype=np.float32), nan=0.0, posinf=top,
                            neginf=0.0)
        return Image.fromarray((arr.clip(0, top) * (255 / top) + 0.5).astype(np.uint8), "L")
    if mode in ("LA", "RGBA"):
        rgba = image.convert("RGBA")
        gray = Image.new("RGBA", rgba.size, (GRAY, GRAY, GRAY, 255))
        return Image.alpha_composite(gray, rgba).convert("RGB" if mode == "RGBA" else "L")
    if mode in ("L", "RGB"):
        return image
    try:
        return image.convert("RGB")  # CMYK, YCbCr, LAB
    except ValueError as exc:
        raise UnsupportedImage(f"cannot convert a {mode} image to RGB ({exc}); send an "
                               "8-bit RGB or grayscale PNG or JPEG") from exc
