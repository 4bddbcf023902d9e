"""Random transforms that make feature visualizations robust, in pure torch.

A transform maps a batch [N, C, H, W] (display space) to a batch of the same size,
drawing its random numbers per image from that image's own generator, so that an
image's stream never depends on its neighbours in the batch. Geometric transforms
(jitter, shift, scale, rotate) are gathered into one affine warp per image and applied
with a single ``grid_sample``; what leaves the canvas is filled with `fill` (mid
gray by default), so the model always sees the input size it expects. Blurs run
after the geometric steps, wherever they stand in the list.

``standard(size)`` is the set Lucid and Lucent use by default (pad 12, jitter 8,
scale 0.9-1.1, rotate -10..10 degrees, jitter 4 on images of 128-224 pixels), with
pad and jitter scaled to the image size (1/16 and 1/32 of it) and the pad shown as a
gray border inside a canvas of fixed size, since many models take only one size.

``spectrogram(shape)`` is the set for spectrograms [C, F, T]: shifts in time (1/16 and
1/32 of the frames) and by at most one band each in frequency, nothing else. A rotated
or scaled spectrogram is no longer a sound (a tilt bends every pitch, a zoom shifts all of
them), so neither is used. The name "standard" picks the set of the model's input kind
(`STANDARD`, the one table of defaults).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .param import blur as gaussian_blur


@dataclass(frozen=True)
class Jitter:
    """Shift by a whole number of pixels in [-d, d] per axis."""

    d: int


@dataclass(frozen=True)
class Shift:
    """Shift by a whole number of rows in [-rows, rows] and of columns in [-cols, cols]
    (a spectrogram's bands and frames)."""

    rows: int
    cols: int


@dataclass(frozen=True)
class Scale:
    """Zoom by a factor drawn uniformly from [lo, hi]."""

    lo: float
    hi: float


@dataclass(frozen=True)
class Rotate:
    """Rotate by an angle (degrees) drawn uniformly from [-deg, deg]."""

    deg: float


@dataclass(frozen=True)
class Pad:
    """Shrink the content by `w` pixels of border on each side (the canvas keeps its size)."""

    w: int


@dataclass(frozen=True)
class Blur:
    """Gaussian blur of width `sigma` (pixels); deterministic."""

    sigma: float


Step = Jitter | Shift | Scale | Rotate | Pad | Blur


def standard(size: int = 224) -> list[Step]:
    """The default robustness transforms for images of `size` pixels (the longer side).

    Example:
        >>> standard(64)
        [Pad(w=4), Jitter(d=4), Scale(lo=0.9, hi=1.1), Rotate(deg=10.0), Jitter(d=2)]
    """
    big, small = max(1, round(size / 16)), max(1, round(size / 32))
    return [Pad(big), Jitter(big), Scale(0.9, 1.1), Rotate(10.0), Jitter(small)]


def spectrogram(shape: int | tuple[int, int] = (64, 64)) -> list[Step]:
    """The default transforms for spectrograms of `shape` (bands, frames): shifts in
    time and by at most one band per step in frequency; no scaling, rotation or padding.

    Example:
        >>> spectrogram((64, 63))
        [Shift(rows=1, cols=4), Shift(rows=1, cols=2)]
    """
    frames = shape if isinstance(shape, int) else shape[1]
    big, small = max(1, round(frames / 16)), max(1, round(frames / 32))
    return [Shift(1, big), Shift(1, small)]


# The named sets, made for an input of (height, width) ...
SETS: dict[str, Callable[[tuple[int, int]], list[Step]]] = {
    "image": lambda hw: standard(max(hw)), "spectrogram": spectrogram}
# ... and the one "standard" names for each input kind (InputSpec.kind)
STANDARD: dict[str, str] = {"image": "image", "audio": "spectrogram"}


def parse(spec: str | Sequence[Step] | None, size: int | tuple[int, int] = 224,
          kind: str = "image") -> list[Step]:
    """The steps for inputs of `size` ((height, width), or one side) of input `kind`:
    "standard" (the kind's own set, `STANDARD`), a set by name ("image", "spectrogram"),
    "none" (or None), or a list of steps.

    Example:
        >>> parse("standard", (64, 63), kind="audio")
        [Shift(rows=1, cols=4), Shift(rows=1, cols=2)]
        >>> parse("standard", 32) == standard(32)
        True
    """
    if spec is None or spec == "none":
        return []
    hw = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if spec == "standard":
        spec = STANDARD.get(kind, "image")
    if isinstance(spec, str):
        if spec not in SETS:
            raise ValueError(f"transforms must be 'standard' (the input kind's own set), "
                             f"{', '.join(repr(n) for n in SETS)}, 'none' or a list of steps, "
                             f"got {spec!r}")
        return SETS[spec](hw)
    return list(spec)


def _draws(steps: Sequence[Step]) -> int:
    return sum(2 if isinstance(s, (Jitter, Shift)) else 1 for s in steps
               if isinstance(s, (Jitter, Shift, Scale, Rotate)))


def _matrices(steps: Sequence[Step], u: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Per-image affine maps [N, 3, 3] from output pixels to input pixels (centred)."""
    n = u.shape[0]
    m = torch.eye(3).repeat(n, 1, 1)
    col = 0
    for step in steps:  # composed in order: each step warps the previous result
        t = torch.eye(3).repeat(n, 1, 1)
        if isinstance(step, Jitter):
            shift = torch.floor(u[:, col:col + 2] * (2 * step.d + 1)) - step.d
            t[:, 0, 2], t[:, 1, 2] = -shift[:, 0], -shift[:, 1]
            col += 2
        elif isinstance(step, Shift):
            t[:, 0, 2] = step.cols - torch.floor(u[:, col] * (2 * step.cols + 1))
            t[:, 1, 2] = step.rows - torch.floor(u[:, col + 1] * (2 * step.rows + 1))
            col += 2
        elif isinstance(step, Scale):
            s = step.lo + (step.hi - step.lo) * u[:, col]
            t[:, 0, 0], t[:, 1, 1] = 1 / s, 1 / s
            col += 1
        elif isinstance(step, Rotate):
            a = torch.deg2rad((2 * u[:, col] - 1) * step.deg)
            t[:, 0, 0], t[:, 0, 1] = torch.cos(a), -torch.sin(a)
            t[:, 1, 0], t[:, 1, 1] = torch.sin(a), torch.cos(a)
            col += 1
        elif isinstance(step, Pad):
            s = max(h, w) / (max(h, w) + 2 * step.w)
            t[:, 0, 0], t[:, 1, 1] = 1 / s, 1 / s
        else:
            continue
        m = m @ t
    return m


def _grid(theta: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """``F.affine_grid(theta, [N, C, h, w], align_corners=False)``, by broadcasting (its
    batched matrix product is five times slower on CPU for these sizes)."""
    n = theta.shape[0]
    xs = ((torch.arange(w, device=theta.device, dtype=theta.dtype) * 2 + 1) / w - 1).view(1, 1, w)
    ys = ((torch.arange(h, device=theta.device, dtype=theta.dtype) * 2 + 1) / h - 1).view(1, h, 1)
    t = theta.view(n, 6, 1, 1)
    gx = t[:, 0] * xs + t[:, 1] * ys + t[:, 2]
    gy = t[:, 3] * xs + t[:, 4] * ys + t[:, 5]
    return torch.stack([gx, gy], dim=-1)


def apply(x: torch.Tensor, steps: Sequence[Step], generators: Sequence[torch.Generator],
          fill: float = 0.5) -> torch.Tensor:
    """Transform a batch [N, C, H, W], image i drawing from ``generators[i]``.

    Example:
        >>> x = torch.rand(2, 3, 16, 16)
        >>> gens = [torch.Generator().manual_seed(i) for i in range(2)]
        >>> apply(x, standard(16), gens).shape
        torch.Size([2, 3, 16, 16])
    """
    if not steps:
        return x
    n, _, h, w = x.shape
    k = _draws(steps)
    u = torch.stack([torch.rand(k, generator=g) for g in generators]) if k else torch.zeros(n, 0)
    geometric = [s for s in steps if not isinstance(s, Blur)]
    if geometric:
        m = _matrices(geometric, u, h, w)
        # pixel coordinates -> grid_sample's [-1, 1] (align_corners=False)
        to_norm = torch.tensor([[2 / w, 0, 0], [0, 2 / h, 0], [0, 0, 1.0]])
        theta = (to_norm @ m @ torch.linalg.inv(to_norm))[:, :2].to(x)
        x = F.grid_sample(x - fill, _grid(theta, h, w), mode="bilinear", padding_mode="zeros",
                          align_corners=False) + fill
    for step in steps:
        if isinstance(step, Blur):
            x = gaussian_blur(x, step.sigma)
    return x


__all__ = ["SETS", "STANDARD", "Blur", "Jitter", "Pad", "Rotate", "Scale", "Shift", "Step",
           "apply", "parse", "spectrogram", "standard"]
