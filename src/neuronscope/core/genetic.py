"""XDream's genetic algorithm (Ponce et al. 2019): evolve codes against any score.

Each generation the population's codes are scored. Fitness is a softmax of the
z-scored scores times ``selectivity`` (``exp((s - s_max) / kT)`` with ``kT = std /
selectivity``; scores above the 95th percentile are clipped first, as in XDream), the
``n_elites`` best codes pass unchanged, and every other child takes each gene from
parent 1 with probability ``heritability`` (else from parent 2), parents drawn in
proportion to fitness; then each gene mutates with probability ``mutation_rate`` by
Gaussian noise of standard deviation ``mutation_size``. Elites are scored again in
each generation (with a noisy score, a lucky draw does not stay best for free).

Model-agnostic: the score function may be a network, numpy code or a noisy neuron.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from .errors import NeuronscopeError


@dataclass(frozen=True)
class GeneticSettings:
    """The settings of the genetic algorithm (XDream's defaults; see the module text).

    Example:
        >>> GeneticSettings(population=10).n_elites
        1
    """

    population: int = 20
    mutation_rate: float = 0.5
    mutation_size: float = 0.5
    selectivity: float = 2.0
    heritability: float = 0.5
    n_elites: int | None = None  # None: a tenth of the population, at least 1

    def __post_init__(self) -> None:
        if int(self.population) < 2:
            raise ValueError(f"population must be 2 or more, got {self.population}")
        if not 0.0 <= self.mutation_rate <= 1.0:
            raise ValueError(f"mutation_rate is a probability in [0, 1], got {self.mutation_rate}")
        if not self.mutation_size > 0:
            raise ValueError(f"mutation_size must be positive, got {self.mutation_size}")
        if not self.selectivity > 0:
            raise ValueError(f"selectivity must be positive, got {self.selectivity}")
        if not 0.0 <= self.heritability <= 1.0:
            raise ValueError(f"heritability is a probability in [0, 1], got {self.heritability}")
        if self.n_elites is None:
            object.__setattr__(self, "n_elites", max(1, int(self.population) // 10))
        if not 0 <= int(self.n_elites) < int(self.population):
            raise ValueError(f"n_elites must be in 0 .. population - 1 = {self.population - 1}, "
                             f"got {self.n_elites}")


def check_scores(out: Any, n: int, where: str) -> torch.Tensor:
    """A score function's output as a float64 tensor [n]; refuses wrong shapes and NaN.

    Tensors, numpy arrays and lists are accepted, of shape (n,) or (n, 1).

    Example:
        >>> check_scores(np.array([1.0, 2.0]), 2, "generation 0").tolist()
        [1.0, 2.0]
    """
    try:
        if isinstance(out, torch.Tensor):
            scores = out.detach().to("cpu", torch.float64)
        else:
            scores = torch.as_tensor(np.asarray(out, dtype=np.float64))
    except (TypeError, ValueError) as exc:
        raise NeuronscopeError(f"the score function returned {type(out).__name__} ({where}), "
                               f"not numbers: return one score per image, shape ({n},) "
                               f"({exc})") from None
    if scores.dim() == 2 and scores.shape[1] == 1:
        scores = scores[:, 0]
    if tuple(scores.shape) != (n,):
        raise NeuronscopeError(f"the score function returned shape {tuple(scores.shape)} for "
                               f"{n} images ({where}): expected one score per image, shape "
                               f"({n},)")
    bad = ~torch.isfinite(scores)
    if bad.any():
        which = bad.nonzero().flatten().tolist()[:5]
        raise NeuronscopeError(f"the score function returned {scores[which[0]].item()} for "
                               f"images {which} ({where}): scores must be finite numbers")
    return scores


def next_generation(codes: torch.Tensor, scores: torch.Tensor, settings: GeneticSettings,
                    rng: torch.Generator) -> torch.Tensor:
    """The next population from scored codes [n, genes] (the first rows: the elites).

    Example:
        >>> codes = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
        >>> scores = torch.arange(6.0)
        >>> new = next_generation(codes, scores, GeneticSettings(population=6), torch.Generator())
        >>> new.shape, bool((new[0] == codes[5]).all())
        (torch.Size([6, 4]), True)
    """
    order = torch.argsort(scores, descending=True, stable=True)
    codes, s = codes[order], scores[order].double()
    n_children = settings.population - settings.n_elites
    kt = max(float(s.std(unbiased=False)) / settings.selectivity, 1e-8)
    clipped = s.clamp(max=float(torch.quantile(s, 0.95)))
    fitness = torch.exp((clipped - clipped.max()) / kt)
    parents = torch.multinomial(fitness, 2 * n_children, replacement=True, generator=rng)
    p1, p2 = parents[:n_children], parents[n_children:]
    from_first = torch.rand(n_children, codes.shape[1], generator=rng) < settings.heritability
    children = torch.where(from_first, codes[p1], codes[p2])
    mutate = torch.rand(children.shape, generator=rng) < settings.mutation_rate
    noise = torch.randn(children.shape, generator=rng) * settings.mutation_size
    children = children + noise * mutate
    return torch.cat([codes[: settings.n_elites], children])


@dataclass
class Outcome:
    """What `run` found: the best code and score, per-generation best and mean scores."""

    best_code: torch.Tensor
    best_score: float
    history: list[float] = field(default_factory=list)
    mean_history: list[float] = field(default_factory=list)
    queries: int = 0
    reached: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def record(self, codes: torch.Tensor, scores: torch.Tensor, cost: int,
               stop_at: float | None) -> bool:
        """Add one generation (its `codes`, their `scores`, the `cost` in queries); whether
        the best score has reached `stop_at`."""
        self.queries += cost
        top = int(torch.argmax(scores))
        self.history.append(float(scores[top]))
        self.mean_history.append(float(scores.mean()))
        if scores[top] > self.best_score:
            self.best_score, self.best_code = float(scores[top]), codes[top].clone()
        self.reached = stop_at is not None and self.best_score >= stop_at
        return self.reached


def run(score_codes: Callable[[torch.Tensor], Any], first: torch.Tensor, budget: int,
        settings: GeneticSettings, rng: torch.Generator, *, repeats: int = 1,
        stop_at: float | None = None, progress: bool = True, desc: str = "evolve") -> Outcome:
    """Evolve from the codes `first` [population, genes] until `budget` queries are spent.

    A query is one presentation of one code: a generation costs ``population *
    repeats``. `score_codes(codes)` returns one score per code (tensor, array or list);
    with ``repeats`` > 1 it is called that many times and the scores averaged. An error
    raised while scoring propagates with a note naming the generation. With `stop_at`,
    evolution stops once a score reaches it.

    Example:
        >>> target = torch.ones(5)
        >>> out = run(lambda c: -(c - target).pow(2).sum(1), torch.zeros(8, 5), 800,
        ...           GeneticSettings(population=8), torch.Generator().manual_seed(0),
        ...           progress=False)
        >>> out.queries, out.best_score > -1.0
        (800, True)
    """
    from tqdm.auto import tqdm

    n = settings.population
    if tuple(first.shape[:1]) != (n,) or first.dim() != 2:
        raise NeuronscopeError(f"the first population must have shape [{n}, genes], "
                               f"got {tuple(first.shape)}")
    if int(repeats) < 1:
        raise ValueError(f"repeats must be 1 or more, got {repeats}")
    cost = n * int(repeats)
    if int(budget) < cost:
        raise ValueError(f"budget={budget} queries is less than one generation "
                         f"(population {n} x repeats {repeats} = {cost}): give budget >= {cost}")
    generations = int(budget) // cost
    codes = first.detach().float().cpu()
    out = Outcome(best_code=codes[0].clone(), best_score=-math.inf)
    with tqdm(total=generations * cost, desc=desc, disable=not progress, leave=False,
              unit="query") as bar:
        for g in range(generations):
            scores = _score(score_codes, codes, int(repeats), g)
            bar.update(cost)
            if out.record(codes, scores, cost, stop_at):
                break
            if g + 1 < generations:
                codes = next_generation(codes, scores, settings, rng)
    return out


def _score(score_codes: Callable[[torch.Tensor], Any], codes: torch.Tensor, repeats: int,
           generation: int) -> torch.Tensor:
    where = f"generation {generation}"
    total = torch.zeros(len(codes), dtype=torch.float64)
    for r in range(repeats):
        try:
            raw = score_codes(codes.clone())
        except Exception as exc:
            rep = f", repeat {r + 1} of {repeats}" if repeats > 1 else ""
            exc.add_note(f"(raised by the score function while scoring {where}{rep}, "
                         f"{len(codes)} images)")
            raise
        total += check_scores(raw, len(codes), where)
    return total / repeats
