"""Black-box evolution of stimuli (XDream; Ponce et al. 2019): `evolve` and `Evolution`.

As with a neuron in a monkey's cortex, nothing is known of the scored system but its
answers: a score function gets a batch of images and returns one number per image.
A generator (``code -> image``) turns the genetic algorithm's codes into images
(`neuronscope.core.genetic`); by default a `FourierGenome` of the given ``shape``.
`unit_scorer` wraps one unit of a model as such a score function.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from neuronscope.core.errors import NeuronscopeError
from neuronscope.core.genetic import GeneticSettings, run
from neuronscope.core.genomes import check_generator, default_genome, sample_codes
from neuronscope.core.layers import eval_mode
from neuronscope.core.model import model_device
from neuronscope.core.recording import record
from neuronscope.core.result import Result
from neuronscope.core.spec import input_spec
from neuronscope.core.units import Unit, find_module


@dataclass
class Evolution(Result):
    """The best stimulus found: ``best_image`` [C, H, W] (display space, in [0, 1]), its
    ``best_code`` and ``best_score`` (the highest score seen, averaged over repeats: with a
    noisy score it is the luckiest average, so it overstates the image's true score; present
    ``best_image`` again, many times, for an unbiased one); ``history`` [generations] the
    best score of each generation, ``mean_history`` the mean; ``queries`` the number of
    image presentations used.

    Example:
        >>> import tempfile
        >>> evo = evolve(lambda x: x.mean((1, 2, 3)), shape=(1, 8, 8), budget=200,
        ...              progress=False)
        >>> Evolution.load(evo.save(tempfile.mkdtemp() + "/e.safetensors")).queries
        200
    """

    FORMAT = "neuronscope.evolution"

    best_image: torch.Tensor
    best_code: torch.Tensor
    best_score: float
    history: torch.Tensor
    mean_history: torch.Tensor
    queries: int
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def generations(self) -> int:
        return len(self.history)


def evolve(score_fn: Callable[[torch.Tensor], Any], *, generator: Any = None,
           shape: tuple[int, int, int] | None = None, budget: int = 2000, seed: int = 0,
           population: int = 20, mutation_rate: float = 0.5, mutation_size: float = 0.5,
           selectivity: float = 2.0, heritability: float = 0.5, n_elites: int | None = None,
           repeats: int = 1, progress: bool = True) -> Evolution:
    """Evolve the image that `score_fn` scores highest, using only its scores.

    ``score_fn(images)`` receives a float tensor [n, C, H, W] of display-space images
    (values in [0, 1], on the generator's device, no gradient) and returns one score per
    image: a tensor, numpy array or list of shape (n,). It may be anything: not
    differentiable, numpy code, noisy (``repeats=r`` presents each image r times and
    averages). `generator` has ``code_size``, ``shape`` and ``decode(codes) -> images``
    (see `neuronscope.core.genomes`); without one, give ``shape=(C, H, W)`` for the
    default genome. `budget` counts presentations: ``budget // (population * repeats)``
    generations are run. The genetic algorithm's settings are XDream's (see
    `neuronscope.core.genetic`); ``n_elites`` defaults to a tenth of the population.

    Example:
        >>> evo = evolve(lambda x: x.mean((1, 2, 3)).numpy(), shape=(1, 8, 8), budget=400,
        ...              progress=False)
        >>> evo.best_image.shape, evo.best_score > 0.8, evo.queries
        (torch.Size([1, 8, 8]), True, 400)
    """
    if not callable(score_fn):
        raise NeuronscopeError(f"score_fn must be callable (images -> one score per image), "
                               f"got {type(score_fn).__name__}")
    if generator is None:
        if shape is None:
            raise NeuronscopeError("evolve needs images to evolve: give generator=... (an "
                                   "object with code_size, shape and decode, such as "
                                   "ns.FourierGenome((3, 64, 64))) or shape=(C, H, W)")
        generator = default_genome(shape)
    generator = check_generator(generator)
    settings = GeneticSettings(population=int(population), mutation_rate=mutation_rate,
                               mutation_size=mutation_size, selectivity=selectivity,
                               heritability=heritability, n_elites=n_elites)
    rng = torch.Generator().manual_seed(int(seed))
    first = sample_codes(generator, settings.population, rng)

    def score_codes(codes: torch.Tensor) -> Any:
        return score_fn(decode(generator, codes))

    out = run(score_codes, first, budget, settings, rng, repeats=repeats, progress=progress)
    return Evolution(
        best_image=decode(generator, out.best_code[None])[0].cpu(),
        best_code=out.best_code, best_score=out.best_score,
        history=torch.tensor(out.history, dtype=torch.float64),
        mean_history=torch.tensor(out.mean_history, dtype=torch.float64),
        queries=out.queries,
        settings={"generator": describe(generator), "budget": int(budget), "seed": int(seed),
                  "repeats": int(repeats), **vars(settings)},
    )


def describe(generator: Any) -> str:
    """A one-line name of a generator: its repr when short, else its type, code and shape."""
    text = repr(generator)
    if "\n" in text or len(text) > 120:
        text = (f"{type(generator).__name__}(code_size={generator.code_size}, "
                f"shape={tuple(generator.shape)})")
    return text


def decode(generator: Any, codes: torch.Tensor) -> torch.Tensor:
    """The generator's images of `codes`, checked: [n, C, H, W] as its ``shape`` says."""
    with torch.no_grad():
        images = generator.decode(codes)
    expected = (len(codes), *tuple(generator.shape))
    if not isinstance(images, torch.Tensor) or tuple(images.shape) != expected:
        got = tuple(images.shape) if hasattr(images, "shape") else type(images).__name__
        raise NeuronscopeError(f"{type(generator).__name__}.decode returned {got}, expected a "
                               f"tensor of shape {expected} (n, *generator.shape)")
    return images.detach().float()


def unit_scorer(model: nn.Module, unit: str | Unit) -> Callable[[torch.Tensor], torch.Tensor]:
    """A score function for `evolve`: display-space images -> the unit's mean activation.

    The images go through the model's InputSpec (``to_model``); a channel's map is
    averaged over positions. The model runs in eval mode; its own mode is restored after
    each call. An unknown layer or a unit out of range is refused at once.

    Example:
        >>> import torch, torch.nn as nn
        >>> model = nn.Sequential(nn.Conv2d(1, 2, 3))
        >>> unit_scorer(model, "0:1")(torch.rand(4, 1, 8, 8)).shape
        torch.Size([4])
    """
    address = Unit.parse(unit)
    find_module(model, address.module_path)  # an unknown layer: the closest names
    spec = input_spec(model)

    def score(images: torch.Tensor) -> torch.Tensor:
        x = torch.as_tensor(images, dtype=torch.float32).to(model_device(model))
        x = spec.to_model(x) if spec is not None else x
        with eval_mode(model), torch.no_grad(), record(model, [address]) as rec:
            model(x)
        act = rec[address]
        return act.flatten(1).mean(1) if act.dim() > 1 else act

    if spec is not None and spec.kind == "image":  # a unit out of range: the valid range
        score(torch.full((1, *spec.shape), sum(spec.value_range) / 2))
    return score
