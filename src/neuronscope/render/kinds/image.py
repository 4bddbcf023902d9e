"""The image kind: crops around a unit's receptive field at each example's maximum."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ..examples import example_grid
from ..grid import image_grid
from . import InputKind, Picture, register_kind


@register_kind
class ImageKind(InputKind):
    """Images [C, H, W]: top examples as crops with the field outlined, samples whole."""

    name = "image"
    needs_field = True

    def accepts(self, spec: Any, sample: torch.Tensor) -> bool:
        return sample.dim() == 3 and sample.is_floating_point()

    def examples(self, shown: Any) -> Picture:
        crops, box = unit_crops(shown)
        return example_grid(crops, shown.values, box=box)

    def samples(self, inputs: list[torch.Tensor], spec: Any,
                traces: torch.Tensor | None = None) -> Picture:
        images = fit(torch.stack([x.float() for x in inputs]), 64)  # two per quantile band
        return image_grid(images, nrow=2, pad=2, scale=max(1, 48 // images.shape[-1]),
                          normalize=None)

    def stimulus(self, x: torch.Tensor, spec: Any, side: int = 96) -> Picture:
        """The image as it is (values in the spec's value range) scaled up by whole pixels
        to `side` (see `tile`)."""
        lo, hi = spec.value_range if spec is not None else (0.0, 1.0)
        return tile((x.float() - lo) / (hi - lo), side)

    def photographic(self, sample: torch.Tensor) -> bool:
        """Images of 128 pixels and more (photographs; small generated scenes stay PNG)."""
        return sample.dim() == 3 and min(sample.shape[-2:]) >= PHOTO_SIDE


PHOTO_SIDE = 128


def tile(image: torch.Tensor, side: int = 96) -> Any:
    """One display-space image [C, H, W] (values in [0, 1]) as a PIL image, each pixel
    repeated ``side // W`` times (at least once).

    Example:
        >>> tile(torch.rand(3, 8, 8), 96).size
        (96, 96)
    """
    return image_grid(image.unsqueeze(0), nrow=1, pad=0, scale=max(1, side // image.shape[-1]),
                      normalize=None)


def fit(images: torch.Tensor, most: int) -> torch.Tensor:
    """Images [n, C, S, S] shrunk (antialiased) to `most` pixels when they are larger.

    Example:
        >>> fit(torch.rand(2, 3, 224, 224), 112).shape, fit(torch.rand(1, 1, 8, 8), 112).shape
        (torch.Size([2, 3, 112, 112]), torch.Size([1, 1, 8, 8]))
    """
    if images.shape[-1] <= most:
        return images
    return F.interpolate(images, size=(most, most), mode="bilinear", antialias=True,
                         align_corners=False).clamp(0, 1)


def unit_crops(shown: Any, min_size: int = 24, context: int = 16, max_size: int = 112
               ) -> tuple[torch.Tensor, tuple[int, int, int, int] | None]:
    """Crops [k, C, S, S] of the examples around the receptive field at the position of
    each maximum, and where the field lies in each crop (top, left, bottom, right), or
    None for whole images.

    A field smaller than `context` pixels is shown with context around it (the crop is
    `context` wide, the field in its middle); parts outside the image are mid-gray.
    Crops are resized to at least `min_size` pixels so that they tile into one grid, and
    shrunk to `max_size` (whole photographs of 224 px would make strips of 2,000 px).
    A layer without positions (or a global field) shows whole images.
    """
    rf = shown.field
    crops, box = [], None
    for image, pos in zip(shown.inputs, shown.positions, strict=True):
        image = image.float()
        if rf is not None and not rf.is_global and len(pos) == 2 and min(pos) >= 0:
            top, left, bottom, right = rf.box(*pos)
            grow = [max(0, context - (bottom - top)), max(0, context - (right - left))]
            image = crop(image, (top - grow[0] // 2, left - grow[1] // 2,
                                 bottom + grow[0] - grow[0] // 2, right + grow[1] - grow[1] // 2))
            box = (grow[0] // 2, grow[1] // 2, grow[0] // 2 + bottom - top,
                   grow[1] // 2 + right - left)
        crops.append(image)
    if not crops:
        return torch.zeros(0), None
    side = max(c.shape[-1] for c in crops)
    size = max(min_size, side)
    crops = [F.interpolate(c.unsqueeze(0), size=(size, size), mode="nearest")[0] for c in crops]
    shrunk = fit(torch.stack(crops), max_size)
    if box is not None:
        box = tuple(round(b * shrunk.shape[-1] / side) for b in box)  # type: ignore[assignment]
    return shrunk, box


def crop(image: torch.Tensor, box: tuple[int, ...]) -> torch.Tensor:
    """image [C, H, W] cut to box (top, left, bottom, right), padded with gray outside.

    Example:
        >>> crop(torch.zeros(1, 4, 4), (-1, 0, 2, 2))[0, 0].tolist()
        [0.5, 0.5]
    """
    top, left, bottom, right = box
    h, w = image.shape[-2:]
    out = torch.full((image.shape[0], bottom - top, right - left), 0.5)
    t0, l0 = max(top, 0), max(left, 0)
    t1, l1 = min(bottom, h), min(right, w)
    if t1 > t0 and l1 > l0:
        out[:, t0 - top:t1 - top, l0 - left:l1 - left] = image[:, t0:t1, l0:l1]
    return out
