"""Image grids: a batch of float images -> one PIL image, plus uint8 conversion and PNG saving.

Shared by every picture neuronscope draws (weights, dataset examples, feature
visualizations). Nothing here runs a model.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from ..core.files import atomic_write

NORMALIZE = ("each", "all", "symmetric", "symmetric_all", None)


def to_uint8(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """Values in [0, 1] -> uint8 in [0, 255] (clamped, rounded half up), same shape.

    Example:
        >>> to_uint8(torch.tensor([-1.0, 0.0, 0.5, 1.0, 2.0])).tolist()
        [0, 0, 128, 255, 255]
    """
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().float().numpy()
    a = np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0)
    return np.floor(a * 255.0 + 0.5).astype(np.uint8)


def normalize_images(images: torch.Tensor, mode: str | None = "each") -> torch.Tensor:
    """Map a batch [N, ...] of float images to [0, 1].

    ``"each"``: min-max per image; ``"all"``: one min-max over the batch;
    ``"symmetric"``: zero -> 0.5 (mid-gray), scaled by each image's max |value|
    (for weights and signed maps); ``"symmetric_all"``: the same with one scale for
    the batch; ``None``: values already in [0, 1], clamped. A constant image (or an
    all-zero one in the symmetric modes) becomes 0.5.

    Example:
        >>> normalize_images(torch.tensor([[-2.0, 0.0, 1.0]]), "symmetric").tolist()
        [[0.0, 0.5, 0.75]]
    """
    if mode not in NORMALIZE:
        raise ValueError(f"normalize must be one of {NORMALIZE}, got {mode!r}")
    x = images.detach().float()
    if mode is None:
        return x.clamp(0.0, 1.0)
    dims = tuple(range(1, x.dim()))
    if mode in ("symmetric", "symmetric_all"):
        m = x.abs().amax(dims, keepdim=True) if mode == "symmetric" else x.abs().max()
        return torch.where(m > 0, 0.5 + x / (2 * m.clamp_min(1e-30)), torch.full_like(x, 0.5))
    if mode == "each":
        lo, hi = x.amin(dims, keepdim=True), x.amax(dims, keepdim=True)
    else:
        lo, hi = x.min(), x.max()
    span = hi - lo
    return torch.where(span > 0, (x - lo) / span.clamp_min(1e-30), torch.full_like(x, 0.5))


def _as_batch(images: Any) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(images) if not isinstance(images, torch.Tensor) else images)
    x = x.detach().cpu().float()
    if x.dim() == 3:  # [N, H, W]: grayscale
        x = x.unsqueeze(1)
    if x.dim() != 4 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(
            f"image_grid takes a float tensor [N, C, H, W] (or [N, H, W]) with N, C >= 1, "
            f"got shape {tuple(x.shape)}"
        )
    if x.shape[1] not in (1, 3):  # 2 or 4+ channels: no colour meaning; show their mean
        x = x.mean(dim=1, keepdim=True)
    return x


def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default()


def _fit(text: str, width: int, font: Any) -> str:
    while text and font.getlength(text) > width:
        text = text[:-1]
    return text


def image_grid(
    images: torch.Tensor | np.ndarray,
    nrow: int | None = None,
    pad: int = 1,
    scale: int = 1,
    normalize: str | None = "each",
    pad_value: float | tuple[float, float, float] = 1.0,
    labels: Sequence[str] | None = None,
) -> Image.Image:
    """Tile a batch of images [N, C, H, W] into one picture.

    `nrow` is the number of images per row (default: ceil(sqrt(N))). C = 1 gives a
    grayscale ("L") image, C = 3 an RGB one; any other C is shown as the channel
    mean in gray (pick channels before calling to see others). `normalize` is one of
    `normalize_images`' modes. Each tile is upscaled by `scale` (nearest neighbour);
    `pad` pixels of gray level `pad_value` (0-1), or of an RGB colour (gray tiles then
    drawn in RGB), separate tiles and surround the grid; the last row's empty slots are
    white.
    `labels` (one per image) are written under the tiles in the default font, cut to
    the tile width.

    The size is ``(ncol * (W*scale + pad) + pad, nrows * (H*scale + pad + label_h) + pad)``.

    Example:
        >>> image_grid(torch.rand(5, 3, 4, 4), nrow=2, pad=1, scale=2).size
        (19, 28)
    """
    x = normalize_images(_as_batch(images), normalize)
    if not isinstance(pad_value, (int, float)) and x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)  # gray tiles on a coloured lattice
    n, c, h, w = x.shape
    ncol = max(1, min(n, nrow if nrow is not None else math.ceil(math.sqrt(n))))
    nrows = math.ceil(n / ncol)
    scale, pad = max(1, int(scale)), max(0, int(pad))
    th, tw = h * scale, w * scale
    if labels is not None and len(labels) != n:
        raise ValueError(f"labels gives {len(labels)} strings for {n} images")
    font = _font() if labels is not None else None
    label_h = font.getbbox("Ag")[3] + 2 if font is not None else 0
    height = nrows * (th + pad + label_h) + pad
    width = ncol * (tw + pad) + pad
    canvas = np.empty((height, width, c), dtype=np.uint8)
    canvas[...] = to_uint8(np.array(pad_value, dtype=np.float64))
    tiles = to_uint8(x.permute(0, 2, 3, 1))
    tiles = tiles.repeat(scale, axis=1).repeat(scale, axis=2)
    for i in range(n):
        top = pad + (i // ncol) * (th + pad + label_h)
        left = pad + (i % ncol) * (tw + pad)
        canvas[top:top + th, left:left + tw] = tiles[i]
    for i in range(n, nrows * ncol):  # the last row's empty slots: page white, no lattice
        top = pad + (i // ncol) * (th + pad + label_h)
        left = pad + (i % ncol) * (tw + pad)
        canvas[top:, left:] = 255
    image = Image.fromarray(canvas[..., 0] if c == 1 else canvas, "L" if c == 1 else "RGB")
    if labels is not None and font is not None:
        draw = ImageDraw.Draw(image)
        ink = 0 if float(np.mean(pad_value)) >= 0.5 else 255
        fill = ink if c == 1 else (ink, ink, ink)
        for i, text in enumerate(labels):
            top = pad + (i // ncol) * (th + pad + label_h) + th + 1
            left = pad + (i % ncol) * (tw + pad)
            draw.text((left, top), _fit(str(text), tw, font), fill=fill, font=font)
    return image


def save_png(image: Image.Image, path: str | os.PathLike[str]) -> Path:
    """Write `image` as PNG atomically (temp file in the same folder, then os.replace).

    Creates missing parent folders. Returns the path.

    Example:
        >>> import tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "a" / "grid.png"
        >>> save_png(image_grid(torch.rand(4, 1, 3, 3)), out).exists()
        True
    """
    return atomic_write(path, lambda f: image.save(f, format="PNG"))


def signed_levels(t: torch.Tensor) -> tuple[np.ndarray, float]:
    """Signed values as 8-bit gray levels (zero at 127.5, the largest magnitude at 0 or 255)
    and that magnitude, for drawing activation maps in the browser.

    Example:
        >>> levels, top = signed_levels(torch.tensor([-2.0, 0.0, 1.0]))
        >>> levels.tolist(), top
        ([0, 128, 191], 2.0)
    """
    top = float(t.abs().max()) if t.numel() else 0.0
    top = top or 1.0
    levels = ((t.float() / top).clamp(-1, 1) * 127.5 + 127.5).round().to(torch.uint8)
    return levels.cpu().numpy(), top
