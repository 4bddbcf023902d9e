"""Image parameterizations: free parameters -> a batch of images in display space.

Every image of the batch has its own parameters, drawn from its own random
generator, so an image never depends on the others in its batch. Kinds:

- ``pixel``: one parameter per pixel and channel.
- ``fourier``: the image's 2-d spectrum, scaled by 1/frequency so that the
  optimizer moves low frequencies as easily as high ones (Olah et al. 2017).
- color decorrelation (3 channels): parameters live in a decorrelated color space
  and are mixed into RGB by the square root of natural images' color covariance.
- ``squash``: ``"sigmoid"`` maps to the value range smoothly; ``"clip"`` adds 0.5
  and clamps (the gradient passes straight through the clamp).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

KINDS = ("fourier", "pixel")
SQUASH = ("sigmoid", "clip")

# square root of the color covariance of natural images (ImageNet), as in Lucid
_COLOR_SQRT = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
COLOR_MIX = _COLOR_SQRT / _COLOR_SQRT.norm(dim=0).max()


def rfft2d_freqs(h: int, w: int) -> torch.Tensor:
    """Frequency magnitude of each entry of a ``torch.fft.rfft2`` spectrum [h, w // 2 + 1].

    Example:
        >>> rfft2d_freqs(4, 4).shape
        torch.Size([4, 3])
    """
    fy = torch.fft.fftfreq(h).view(-1, 1)
    fx = torch.fft.rfftfreq(w).view(1, -1)
    return (fx**2 + fy**2).sqrt()


class _ClipST(torch.autograd.Function):
    """Clamp to [lo, hi] forward; pass the gradient through unchanged."""

    @staticmethod
    def forward(ctx: object, x: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
        return x.clamp(lo, hi)

    @staticmethod
    def backward(ctx: object, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        return grad, None, None


class ImageParam(nn.Module):
    """N images [N, C, H, W] with values in ``value_range``, computed from free parameters.

    Example:
        >>> gens = [torch.Generator().manual_seed(i) for i in range(2)]
        >>> p = ImageParam(gens, channels=3, size=(16, 16))
        >>> x = p()
        >>> x.shape, bool(x.min() >= 0), bool(x.max() <= 1)
        (torch.Size([2, 3, 16, 16]), True, True)
    """

    def __init__(self, generators: Sequence[torch.Generator], channels: int,
                 size: tuple[int, int], kind: str = "fourier", decorrelate: bool = True,
                 squash: str = "sigmoid", value_range: tuple[float, float] = (0.0, 1.0),
                 sd: float = 0.01, decay_power: float = 1.0,
                 device: torch.device | str | None = None,
                 init: torch.Tensor | None = None) -> None:
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"param must be one of {KINDS}, got {kind!r}")
        if squash not in SQUASH:
            raise ValueError(f"squash must be one of {SQUASH}, got {squash!r}")
        self.kind, self.squash, self.channels = kind, squash, int(channels)
        self.h, self.w = (int(size[0]), int(size[1]))
        self.decorrelate = bool(decorrelate) and self.channels == 3
        self.value_range = (float(value_range[0]), float(value_range[1]))
        if kind == "pixel":
            shape: tuple[int, ...] = (self.channels, self.h, self.w)
        else:
            shape = (self.channels, self.h, self.w // 2 + 1, 2)
        start = torch.stack([torch.randn(shape, generator=g) for g in generators]) * sd
        if kind == "fourier":
            freqs = rfft2d_freqs(self.h, self.w)
            scale = 1.0 / freqs.clamp_min(1.0 / max(self.h, self.w)) ** decay_power
            # expanded over (real, imag) so that the multiply is a plain elementwise one
            scale = (scale / 4.0).view(1, 1, *scale.shape, 1).expand(1, 1, *scale.shape, 2)
            self.register_buffer("scale", scale.contiguous().to(device))
        if init is not None:  # start from given images (DeepDream, a flat colour)
            start = self._unsquashed(init) + start
        self.raw = nn.Parameter(start.to(device))
        self.register_buffer("mix", COLOR_MIX.to(device))

    def _unsquashed(self, init: torch.Tensor) -> torch.Tensor:
        """The parameters whose image is `init` ([1 or N, C, H, W] in the value range)."""
        lo, hi = self.value_range
        x = ((init.float() - lo) / (hi - lo)).expand(-1, self.channels, self.h, self.w)
        z = torch.logit(x.clamp(1e-4, 1 - 1e-4)) if self.squash == "sigmoid" else x - 0.5
        if self.decorrelate:  # undo the colour mixing that `linear` applies
            z = torch.einsum("nchw,dc->ndhw", z, torch.linalg.inv(COLOR_MIX))
        if self.kind == "fourier":  # undo the inverse transform and the frequency scaling
            z = torch.view_as_real(torch.fft.rfft2(z, norm="ortho")) / self.scale.cpu()
        return z

    @property
    def n(self) -> int:
        return self.raw.shape[0]

    def linear(self) -> torch.Tensor:
        """The unsquashed image [N, C, H, W] (zero is mid-gray)."""
        if self.kind == "pixel":
            x = self.raw
        else:
            spectrum = torch.view_as_complex(self.raw * self.scale)
            x = torch.fft.irfft2(spectrum, s=(self.h, self.w), norm="ortho")
        if self.decorrelate:  # a batched [3, 3] @ [3, H*W] product: cheaper than einsum here
            n = x.shape[0]
            x = torch.matmul(self.mix, x.reshape(n, 3, -1)).view(n, 3, self.h, self.w)
        return x

    def forward(self) -> torch.Tensor:
        x = self.linear()
        lo, hi = self.value_range
        if self.squash == "sigmoid":
            x = torch.sigmoid(x)
            return x if (lo, hi) == (0.0, 1.0) else lo + (hi - lo) * x
        return _ClipST.apply(lo + (hi - lo) * (x + 0.5), lo, hi)

    @torch.no_grad()
    def edit_pixels(self, fn: object) -> None:
        """Apply ``fn(raw) -> raw`` to pixel parameters in place (decay, blur, clipping)."""
        if self.kind != "pixel":
            raise ValueError("pixel edits (decay, blur every k steps, clipping) need param='pixel'")
        self.raw.copy_(fn(self.raw))  # type: ignore[operator]


def gaussian_kernel(sigma: float) -> torch.Tensor:
    """A normalized 1-d Gaussian kernel of radius ceil(2 sigma)."""
    radius = max(1, math.ceil(2 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (t / max(sigma, 1e-6)) ** 2)
    return k / k.sum()


def blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur of a batch [N, C, H, W] per channel (replicate padding)."""
    if sigma <= 0:
        return x
    k = gaussian_kernel(sigma).to(x)
    r = (len(k) - 1) // 2
    c = x.shape[1]
    y = torch.nn.functional.pad(x, [r, r, 0, 0], mode="replicate")
    y = torch.nn.functional.conv2d(y, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    y = torch.nn.functional.pad(y, [0, 0, r, r], mode="replicate")
    return torch.nn.functional.conv2d(y, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
