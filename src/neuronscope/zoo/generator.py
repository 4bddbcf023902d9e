"""Image generators: a small convolutional VAE per built-in image dataset, trained on first
use and cached like the zoo's models (``$NEURONSCOPE_CACHE/zoo/NAME-generator-HASH``).

A generator is the image prior of plug-and-play generative networks (Nguyen et al.
2016) and of XDream (Ponce et al. 2019): a search in its code space stays on (near) the
images it was trained on. Every generator has ``code_size``, ``shape`` (C, H, W) and
``decode(codes) -> images`` in display space [0, 1], ``encode(images) -> codes`` (the
posterior mean), ``sample_codes(n, generator)`` (standard normal) and
``reconstruction_error(images) -> [n]`` (the mean squared error of
``decode(encode(x))`` against x: low for images like the training set, a naturalness
score). Training is in `neuronscope.zoo.generator_train`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from neuronscope.core.errors import ModelLoadError, NeuronscopeError, did_you_mean
from neuronscope.core.weights import load_weights, save_weights

from .cache import entry_paths, read_json, write_json

__all__ = ["GENERATORS", "ConvVAE", "GeneratorRecipe", "generator", "generator_names"]
logger = logging.getLogger(__name__)
_CHUNK = 256  # images per forward pass in encode / reconstruction_error


@dataclass(frozen=True)
class GeneratorRecipe:
    """How a generator is built and trained: a `ConvVAE` with ``code_size`` and ``width``
    on the images of ``dataset``'s train split (the first ``n_train``), for ``epochs`` of
    Adam with a one-cycle schedule; the loss is the summed squared error plus
    ``kl_weight`` times the KL divergence to the standard normal. ``n_test`` test images
    measure the reconstruction error. Every field but ``description`` keys the cache.

    Example:
        >>> GENERATORS["shapes"].replace(epochs=1).epochs
        1
    """

    name: str
    dataset: str
    shape: tuple[int, int, int] = (3, 64, 64)
    code_size: int = 32
    width: int = 32
    epochs: int = 8
    batch_size: int = 64
    lr: float = 2e-3
    kl_weight: float = 0.5
    seed: int = 0
    n_train: int | None = None
    n_test: int | None = 500
    version: str = "1"
    description: str = ""

    def replace(self, **overrides: Any) -> GeneratorRecipe:
        """A copy with some fields changed (unknown names: a TypeError naming the valid ones)."""
        valid = [f.name for f in dataclasses.fields(self)]
        bad = [k for k in overrides if k not in valid]
        if bad:
            raise TypeError(f"unknown generator recipe field(s) {bad}; valid: {valid}")
        return dataclasses.replace(self, **overrides)

    def fields(self) -> dict[str, Any]:
        """The fields as plain JSON values."""
        out = dataclasses.asdict(self)
        out["shape"] = list(self.shape)
        return out


GENERATORS: dict[str, GeneratorRecipe] = {
    "shapes": GeneratorRecipe(
        "shapes", "shapes",
        description="VAE on the shapes scenes (64x64 RGB): code 32, about 2 minutes on 2 cores"),
}


def _block(cin: int, cout: int, up: bool) -> list[nn.Module]:
    conv = nn.ConvTranspose2d if up else nn.Conv2d
    return [conv(cin, cout, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]


class ConvVAE(nn.Module):
    """A VAE for [C, H, W] images (H, W multiples of 16): four stride-2 convolutions
    down to a code of ``code_size`` numbers, and four transposed ones back up.

    Example:
        >>> gen = ConvVAE(code_size=8, width=4, shape=(3, 32, 32)).eval()
        >>> codes = gen.sample_codes(2, torch.Generator().manual_seed(0))
        >>> images = gen.decode(codes)
        >>> images.shape, bool(images.min() >= 0), gen.reconstruction_error(images).shape
        (torch.Size([2, 3, 32, 32]), True, torch.Size([2]))
    """

    def __init__(self, code_size: int = 32, width: int = 32,
                 shape: tuple[int, int, int] = (3, 64, 64)) -> None:
        super().__init__()
        c, h, w = (int(s) for s in shape)
        if h % 16 or w % 16 or code_size < 1 or width < 1:
            raise ValueError(f"ConvVAE needs H and W multiples of 16 and a positive code_size "
                             f"and width, got shape {tuple(shape)}, {code_size}, {width}")
        self.code_size, self.shape = int(code_size), (c, h, w)
        chans = [c, width, 2 * width, 4 * width, 4 * width]
        self._grid = (chans[-1], h // 16, w // 16)
        flat = chans[-1] * (h // 16) * (w // 16)
        self.encoder = nn.Sequential(
            *[m for i in range(4) for m in _block(chans[i], chans[i + 1], False)],
            nn.Flatten(), nn.Linear(flat, 2 * self.code_size))
        ups = [m for i in range(4, 1, -1) for m in _block(chans[i], chans[i - 1], True)]
        self.decoder = nn.Sequential(
            nn.Linear(self.code_size, flat), nn.Unflatten(1, self._grid), nn.LeakyReLU(0.2),
            *ups, nn.ConvTranspose2d(chans[1], c, 4, stride=2, padding=1), nn.Sigmoid())

    def _check(self, x: torch.Tensor, what: str, shape: tuple[int, ...]) -> None:
        if x.dim() != len(shape) + 1 or tuple(x.shape[1:]) != shape:
            raise NeuronscopeError(f"{what} must be [n, {', '.join(map(str, shape))}], got "
                                   f"{list(x.shape)}")

    def posterior(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, log variance) of the codes of display-space `images` [n, C, H, W]."""
        self._check(images, "images", self.shape)
        mean, logvar = self.encoder(images).chunk(2, dim=1)
        return mean, logvar

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """The posterior mean [n, code_size] of display-space `images` [n, C, H, W]."""
        self._check(images, "images", self.shape)
        return torch.cat([self.posterior(x)[0] for x in images.split(_CHUNK)])

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Images [n, C, H, W] in display space [0, 1] of `codes` [n, code_size]."""
        self._check(codes, "codes", (self.code_size,))
        return self.decoder(codes)

    def sample_codes(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """`n` codes from the prior, the standard normal (on the generator's device)."""
        device = next(self.parameters()).device
        return torch.randn(int(n), self.code_size, generator=generator).to(device)

    def reconstruction_error(self, images: torch.Tensor) -> torch.Tensor:
        """Mean squared error [n] of ``decode(encode(x))`` against each image x [C, H, W]."""
        self._check(images, "images", self.shape)
        out = [(self.decode(self.encode(x)) - x).pow(2).flatten(1).mean(1)
               for x in images.split(_CHUNK)]
        return torch.cat(out)


def generator_names() -> list[str]:
    """The datasets that have a generator recipe.

    Example:
        >>> generator_names()
        ['shapes']
    """
    return list(GENERATORS)


def _key(r: GeneratorRecipe, model: nn.Module) -> str:
    fields = r.fields()
    fields.pop("description")
    text = json.dumps({"recipe": fields, "architecture": repr(model)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _build(r: GeneratorRecipe) -> ConvVAE:
    with torch.random.fork_rng(devices=[]):  # the caller's RNG is left as it was
        torch.manual_seed(r.seed)
        return ConvVAE(r.code_size, r.width, r.shape)


def generator(name: str, *, device: torch.device | str | None = None, progress: bool = True,
              retrain: bool = False, **overrides: Any) -> ConvVAE:
    """The generator of built-in dataset `name`, in eval mode: trained on first use
    (deterministic for the recipe's seed; a progress bar unless ``progress=False``) and
    cached as safetensors under ``$NEURONSCOPE_CACHE/zoo``. `overrides` replace recipe
    fields (``epochs=1``, ``n_train=256``; a changed recipe is another cache entry).
    Its metrics (``test_reconstruction_error``, ``seconds``, ``cached``, ``cache_path``)
    are kept as ``gen.zoo_metrics``.

    Example:
        >>> gen = generator("shapes", progress=False)  # doctest: +SKIP
        >>> gen.decode(gen.sample_codes(4)).shape  # doctest: +SKIP
        torch.Size([4, 3, 64, 64])
    """
    from .generator_train import train_generator

    if name not in GENERATORS:
        raise ModelLoadError(f"no generator for {name!r}.{did_you_mean(name, generator_names())}"
                             f" Generators: {', '.join(generator_names())}")
    r = GENERATORS[name].replace(**overrides) if overrides else GENERATORS[name]
    model = _build(r)
    key = _key(r, model)
    weights, meta = entry_paths(f"{r.name}-generator", key)
    info = None if retrain else read_json(meta)
    if info is not None and weights.is_file():
        try:
            load_weights(model, weights)
            metrics = {**info.get("metrics", {}), "cached": True, "cache_path": str(weights)}
        except Exception as exc:  # a damaged entry is retrained, not fatal
            logger.warning("ignoring damaged generator cache %s (%s); retraining", weights, exc)
            info, model = None, _build(r)
    if info is None or not weights.is_file():
        metrics = {**train_generator(r, model, progress=progress), "hash": key}
        save_weights(model, weights)
        write_json(meta, {"recipe": r.fields(), "metrics": metrics,
                          "torch_version": torch.__version__, "architecture": repr(model)})
        metrics = {**metrics, "cached": False, "cache_path": str(weights)}
    model.zoo_metrics = metrics
    model.generator_name = r.name
    if device is not None:
        model.to(device)
    return model.eval().requires_grad_(False)
