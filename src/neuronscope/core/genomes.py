"""Image genomes: small codes that decode to display-space images, for black-box search.

An image generator is any object with ``code_size`` (int), ``shape`` ((C, H, W) of its
images) and ``decode(codes [n, code_size]) -> images [n, C, H, W]`` with values in
[0, 1]; optionally ``sample_codes(n, generator)`` draws codes from its prior (else the
standard normal is used, see `sample_codes`). A trained generator (a VAE's decoder)
fits the same interface. The genomes here need no training:

- `FourierGenome`: per colour channel, the coefficients of the lowest spatial
  frequencies (cosine and sine products, weighted down as 1/frequency), through a
  sigmoid: smooth, blob-like images whose detail grows with ``frequencies``.
- `PixelGenome`: one gene per pixel (through a sigmoid): for tiny inputs (8x8 digits);
  with ``grid=16``, one gene per pixel of a 16x16 image upsampled bilinearly to the full
  size: what the evolution strategy (`neuronscope.core.es`) searches (`es_genome`).
"""

from __future__ import annotations

import math
from typing import Any, Protocol, runtime_checkable

import torch
import torch.nn.functional as F

from .errors import NeuronscopeError


@runtime_checkable
class ImageGenerator(Protocol):
    """What `ns.evolve` needs of a generator: codes of ``code_size`` -> images of ``shape``."""

    code_size: int
    shape: tuple[int, int, int]

    def decode(self, codes: torch.Tensor) -> torch.Tensor: ...


def _check_shape(shape: Any) -> tuple[int, int, int]:
    try:
        c, h, w = (int(s) for s in shape)
    except (TypeError, ValueError):
        c = h = w = 0
    if min(c, h, w) < 1:
        raise NeuronscopeError(f"an image genome needs shape=(C, H, W) of positive sizes, "
                               f"such as (3, 64, 64), got {shape!r}")
    return c, h, w


def _check_codes(codes: torch.Tensor, code_size: int) -> torch.Tensor:
    codes = torch.as_tensor(codes, dtype=torch.float32)
    if codes.dim() != 2 or codes.shape[1] != code_size:
        raise NeuronscopeError(f"decode takes codes of shape [n, {code_size}], "
                               f"got {tuple(codes.shape)}")
    return codes


class FourierGenome:
    """Low-frequency Fourier coefficients per colour channel -> sigmoid -> images in [0, 1].

    Frequencies 0 .. ``frequencies - 1`` cycles per image along each axis, as products of
    cosines and sines: ``(2 * frequencies - 1) ** 2`` genes per channel. A gene of
    frequency f is weighted by ``1 / (1 + f) ** decay``; the weights are scaled so that
    codes drawn from the standard normal give pixels of standard deviation ``contrast``
    before the sigmoid.

    Example:
        >>> genome = FourierGenome((3, 16, 16), frequencies=3)
        >>> genome.code_size
        75
        >>> images = genome.decode(genome.sample_codes(2, torch.Generator().manual_seed(0)))
        >>> images.shape, bool(images.min() >= 0), bool(images.max() <= 1)
        (torch.Size([2, 3, 16, 16]), True, True)
    """

    def __init__(self, shape: tuple[int, int, int], frequencies: int = 4, *,
                 decay: float = 1.0, contrast: float = 2.0) -> None:
        self.shape = _check_shape(shape)
        if int(frequencies) < 1:
            raise ValueError(f"frequencies must be 1 or more, got {frequencies}")
        self.frequencies, self.decay = int(frequencies), float(decay)
        self.contrast = float(contrast)
        c, h, w = self.shape
        self.basis = _fourier_basis(h, w, self.frequencies, self.decay, self.contrast)
        self.genes_per_channel = self.basis.shape[0]
        self.code_size = c * self.genes_per_channel

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes [n, code_size] -> images [n, C, H, W] in [0, 1]."""
        codes = _check_codes(codes, self.code_size)
        c, h, w = self.shape
        logits = codes.view(-1, c, self.genes_per_channel) @ self.basis.to(codes.device)
        return torch.sigmoid(logits).view(-1, c, h, w)

    def sample_codes(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` codes from the prior (standard normal)."""
        return torch.randn(n, self.code_size, generator=generator)

    def __repr__(self) -> str:
        return f"FourierGenome(shape={self.shape}, frequencies={self.frequencies})"


def _fourier_basis(h: int, w: int, frequencies: int, decay: float, contrast: float
                   ) -> torch.Tensor:
    """[K, H * W]: the weighted cos/sin products of the low frequencies."""
    y = torch.arange(h, dtype=torch.float64) / h * 2 * math.pi
    x = torch.arange(w, dtype=torch.float64) / w * 2 * math.pi
    rows = []
    for fy in range(frequencies):
        for fx in range(frequencies):
            ys = [torch.cos(fy * y)] + ([torch.sin(fy * y)] if fy else [])
            xs = [torch.cos(fx * x)] + ([torch.sin(fx * x)] if fx else [])
            weight = 1.0 / (1.0 + math.hypot(fy, fx)) ** decay
            for a in ys:
                for b in xs:
                    wave = torch.outer(a, b).flatten()
                    rms = wave.pow(2).mean().sqrt()
                    if rms > 1e-6:  # a sine at the Nyquist frequency is all zeros
                        rows.append(wave / rms * weight)
    basis = torch.stack(rows)
    scale = contrast / basis.pow(2).sum(0).mean().sqrt()  # pixel std of N(0, 1) codes
    return (basis * scale).float()


class PixelGenome:
    """One gene per pixel and channel, through a sigmoid: for tiny inputs.

    With ``grid=(h, w)`` (or one number for both) the genes are a coarse image of h x w
    pixels per channel, upsampled bilinearly to the full size before the sigmoid:
    ``C * h * w`` genes for any image size (what the evolution strategy searches,
    `es_genome`). ``contrast`` scales the genes before the sigmoid.

    Example:
        >>> genome = PixelGenome((1, 8, 8))
        >>> genome.code_size, genome.decode(torch.zeros(1, 64)).unique().tolist()
        (64, [0.5])
        >>> coarse = PixelGenome((3, 224, 224), grid=16)
        >>> coarse.code_size, coarse.decode(torch.randn(2, 768)).shape
        (768, torch.Size([2, 3, 224, 224]))
    """

    def __init__(self, shape: tuple[int, int, int], contrast: float = 2.0, *,
                 grid: int | tuple[int, int] | None = None) -> None:
        self.shape = _check_shape(shape)
        self.contrast = float(contrast)
        self.grid = None if grid is None else _check_grid(grid, self.shape)
        if self.grid is None:
            self.code_size = math.prod(self.shape)
        else:
            self.code_size = self.shape[0] * self.grid[0] * self.grid[1]

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes [n, code_size] -> images [n, C, H, W] in [0, 1]."""
        codes = _check_codes(codes, self.code_size)
        if self.grid is None:
            return torch.sigmoid(self.contrast * codes).view(-1, *self.shape)
        c, h, w = self.shape
        coarse = codes.view(-1, c, *self.grid)
        if self.grid != (h, w):
            coarse = F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)
        return torch.sigmoid(self.contrast * coarse)

    def sample_codes(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` codes from the prior (standard normal)."""
        return torch.randn(n, self.code_size, generator=generator)

    def __repr__(self) -> str:
        extra = "" if self.grid is None else f", grid={self.grid}"
        if self.contrast != 2.0:
            extra += f", contrast={self.contrast:g}"
        return f"PixelGenome(shape={self.shape}{extra})"


def _check_grid(grid: Any, shape: tuple[int, int, int]) -> tuple[int, int]:
    """``grid`` as (h, w): positive whole numbers, at most the image's height and width."""
    _, h, w = shape
    pair = (grid, grid) if isinstance(grid, int) and not isinstance(grid, bool) else grid
    try:
        gh, gw = pair
        ok = all(isinstance(v, int) and not isinstance(v, bool) for v in (gh, gw))
    except (TypeError, ValueError):
        ok = False
    if not ok or not (1 <= gh <= h and 1 <= gw <= w):
        raise NeuronscopeError(f"grid must be a whole number or (height, width) of 1 .. the "
                               f"image's size ({h}, {w}), such as grid=16, got {grid!r}")
    return int(gh), int(gw)


def check_generator(generator: Any) -> ImageGenerator:
    """`generator` if it has ``code_size``, ``shape`` and ``decode``; else a clear error.

    Example:
        >>> check_generator(PixelGenome((1, 2, 2))).code_size
        4
    """
    missing = [a for a in ("code_size", "shape", "decode") if not hasattr(generator, a)]
    if missing or not callable(getattr(generator, "decode", None)):
        raise NeuronscopeError(
            f"{type(generator).__name__} is not an image generator (missing: "
            f"{', '.join(missing) or 'a callable decode'}): give an object with code_size, "
            "shape (C, H, W) and decode(codes [n, code_size]) -> images [n, C, H, W] in "
            "[0, 1], such as ns.FourierGenome((3, 64, 64))")
    return generator


def sample_codes(generator: Any, n: int, rng: torch.Generator) -> torch.Tensor:
    """``n`` codes from the generator's prior (``sample_codes``), else the standard normal.

    Example:
        >>> sample_codes(PixelGenome((1, 2, 2)), 3, torch.Generator().manual_seed(0)).shape
        torch.Size([3, 4])
    """
    if callable(getattr(generator, "sample_codes", None)):
        codes = torch.as_tensor(generator.sample_codes(n, rng)).detach().float().cpu()
    else:
        codes = torch.randn(n, int(generator.code_size), generator=rng)
    if tuple(codes.shape) != (n, int(generator.code_size)):
        raise NeuronscopeError(f"{type(generator).__name__}.sample_codes({n}) returned shape "
                               f"{tuple(codes.shape)}, expected ({n}, {generator.code_size})")
    return codes


def default_genome(shape: tuple[int, int, int]) -> FourierGenome | PixelGenome:
    """The genome used when none is given: pixels for tiny images (at most 16x16), else
    Fourier coefficients (4 frequencies per axis below 128 pixels, 8 from there up).

    Example:
        >>> default_genome((1, 8, 8)), default_genome((3, 64, 64))
        (PixelGenome(shape=(1, 8, 8)), FourierGenome(shape=(3, 64, 64), frequencies=4))
    """
    c, h, w = _check_shape(shape)
    if h * w <= 16 * 16:
        return PixelGenome((c, h, w))
    return FourierGenome((c, h, w), frequencies=4 if max(h, w) < 128 else 8)


def es_genome(shape: tuple[int, int, int]) -> PixelGenome:
    """The genome the evolution strategy searches by default: pixels of a coarse image of
    at most 16x16 (``min(H, 16) x min(W, 16)`` per channel), upsampled bilinearly, through
    a plain sigmoid (``contrast=1``, the scale `neuronscope.core.es.ESSettings`' defaults
    were measured at).

    Example:
        >>> es_genome((1, 8, 8)), es_genome((3, 224, 224)).code_size
        (PixelGenome(shape=(1, 8, 8), grid=(8, 8), contrast=1), 768)
    """
    c, h, w = _check_shape(shape)
    return PixelGenome((c, h, w), contrast=1.0, grid=(min(h, 16), min(w, 16)))
