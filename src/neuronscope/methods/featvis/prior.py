"""A generator as image prior (plug-and-play generative networks, Nguyen et al. 2016): the
free parameters are codes of an image generator, the images are its decodings, so the
stimulus stays on (near) the images the generator was trained on.

Any module with ``code_size``, ``shape`` (C, H, W), ``decode(codes) -> [n, C, H, W]``
in display space [0, 1] and ``sample_codes(n, generator)`` works (``encode`` too, for
`init`); `neuronscope.zoo.generator` makes one per built-in dataset. Codes start from the
generator's prior, drawn from each image's own random generator. A decoding of another
height and width than the one asked for is resized bilinearly (antialiased when it
shrinks); another number of channels is an error.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from neuronscope.core.errors import NeuronscopeError
from neuronscope.core.model import model_device

from .param import ImageParam
from .settings import Settings

NEEDS = ("code_size", "shape", "decode", "sample_codes")


def check_prior(prior: Any, channels: int) -> None:
    """Refuse a prior that lacks the generator interface or makes other channels."""
    missing = [a for a in NEEDS if not hasattr(prior, a)]
    if missing or not isinstance(prior, nn.Module):
        raise NeuronscopeError(
            f"prior= needs an image generator (an nn.Module with {', '.join(NEEDS)}, such as "
            f"neuronscope.zoo.generator('shapes')); {type(prior).__name__} lacks "
            f"{', '.join(missing) or 'nn.Module'}")
    if int(prior.shape[0]) != channels:
        raise NeuronscopeError(f"the prior makes {prior.shape[0]}-channel images but the model "
                               f"takes {channels} channels; use a generator of such images")


class GeneratorParam(nn.Module):
    """N images [N, C, H, W] in ``value_range``: the decodings of N free codes.

    ``raw`` holds the codes [N, code_size] (the parameters the optimizer moves);
    `penalty` is ``code_penalty`` times each code's mean square (a pull toward the
    prior's centre). The generator is used, not owned: it is not a submodule and its
    weights get no gradient.

    Example:
        >>> from neuronscope.zoo.generator import ConvVAE
        >>> gen = ConvVAE(code_size=8, width=4, shape=(3, 16, 16)).eval()
        >>> gens = [torch.Generator().manual_seed(i) for i in range(2)]
        >>> p = GeneratorParam(gen, gens, channels=3, size=(24, 24))
        >>> x = p()
        >>> p.raw.shape, x.shape, bool(x.min() >= 0), bool(x.max() <= 1)
        (torch.Size([2, 8]), torch.Size([2, 3, 24, 24]), True, True)
    """

    def __init__(self, prior: nn.Module, generators: Sequence[torch.Generator], channels: int,
                 size: tuple[int, int], value_range: tuple[float, float] = (0.0, 1.0),
                 device: torch.device | str | None = None, init: torch.Tensor | None = None,
                 code_penalty: float = 0.0) -> None:
        super().__init__()
        check_prior(prior, channels)
        if code_penalty < 0:
            raise ValueError(f"code_penalty must be >= 0, got {code_penalty}")
        device = torch.device(device) if device is not None else model_device(prior)
        if model_device(prior) != device:  # a copy on the model's device; the caller's stays
            prior = copy.deepcopy(prior).to(device)
        object.__setattr__(self, "generator", prior)  # not a submodule: not a parameter here
        self.h, self.w = int(size[0]), int(size[1])
        self.value_range = (float(value_range[0]), float(value_range[1]))
        self.code_penalty = float(code_penalty)
        self.resized = (self.h, self.w) != tuple(int(s) for s in prior.shape[1:])
        codes = torch.cat([prior.sample_codes(1, g).cpu() for g in generators])
        if init is not None:  # start from the codes of given images, with a little noise
            codes = self._codes_of(init).expand(len(codes), -1) + 0.01 * codes
        self.raw = nn.Parameter(codes.to(device))

    @torch.no_grad()
    def _codes_of(self, init: torch.Tensor) -> torch.Tensor:
        gen = self.generator
        if not hasattr(gen, "encode"):
            raise NeuronscopeError("init= with a prior needs a generator with encode()")
        lo, hi = self.value_range
        x = ((init.float() - lo) / (hi - lo)).clamp(0, 1)
        x = x.expand(-1, gen.shape[0], -1, -1).to(model_device(gen))
        if tuple(x.shape[-2:]) != tuple(gen.shape[1:]):
            x = F.interpolate(x, size=tuple(gen.shape[1:]), mode="bilinear",
                              align_corners=False, antialias=True)
        return gen.encode(x).cpu()

    @property
    def n(self) -> int:
        return self.raw.shape[0]

    def forward(self) -> torch.Tensor:
        x = self.generator.decode(self.raw)
        if self.resized:
            shrink = self.h < x.shape[-2] or self.w < x.shape[-1]
            x = F.interpolate(x, size=(self.h, self.w), mode="bilinear", align_corners=False,
                              antialias=shrink)
        lo, hi = self.value_range
        return x if (lo, hi) == (0.0, 1.0) else lo + (hi - lo) * x

    def penalty(self) -> torch.Tensor:
        """``code_penalty`` times each code's mean square [N] (zeros when it is 0)."""
        return self.code_penalty * self.raw.pow(2).mean(1)

    def edit_pixels(self, fn: object) -> None:
        raise ValueError("pixel edits (decay, blur, clipping) act on pixels; with prior= the "
                         "parameters are codes: use a preset without edits")


def make_param(prior: nn.Module | None, generators: Sequence[torch.Generator], channels: int,
               size: tuple[int, int], cfg: Settings, value_range: tuple[float, float],
               device: torch.device, init: torch.Tensor | None, code_penalty: float
               ) -> ImageParam | GeneratorParam:
    """The image parameterization `visualize` asked for: a `GeneratorParam` with a prior,
    else the `ImageParam` of the settings."""
    if prior is None:
        if code_penalty:
            raise ValueError("code_penalty= needs prior= (a generator whose codes it pulls in)")
        p = cfg.param
        return ImageParam(generators, channels, size, p.kind, p.decorrelate, p.squash,
                          value_range, device=device, init=init)
    if cfg.edits.active():
        raise NeuronscopeError(f"{', '.join(cfg.edits.active())} edit pixels; with prior= the "
                               "parameters are codes: use preset='lucid' or 'pixel'")
    return GeneratorParam(prior, generators, channels, size, value_range, device, init,
                          code_penalty)


def describe(image: ImageParam | GeneratorParam) -> dict[str, Any]:
    """Settings entries (plain JSON) that say which prior made the images, if any.

    Example:
        >>> describe(ImageParam([torch.Generator()], 1, (4, 4)))
        {}
    """
    if not isinstance(image, GeneratorParam):
        return {}
    gen = image.generator
    return {"param": "generator", "prior": str(getattr(gen, "generator_name", type(gen).__name__)),
            "code_size": int(gen.code_size), "prior_shape": [int(s) for s in gen.shape],
            "prior_resized": image.resized, "code_penalty": image.code_penalty}
