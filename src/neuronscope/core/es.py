"""A natural evolution strategy (NES; Wierstra et al. 2014, Salimans et al. 2017): climb
any score with a gradient estimated from scores alone.

One code, the centre, is searched from. Each generation draws ``pairs`` Gaussian
directions ``eps`` and scores the antithetic codes ``centre + sigma * eps`` and
``centre - sigma * eps``, and the centre itself. The scores are replaced by their
ranks (ties share the mean rank), scaled to [-1/2, 1/2], so only their order counts:
any monotone transform of the score (a probability or its log) gives the same search,
and one outlier cannot throw a step. The gradient of the smoothed score is estimated as
``mean((rank(+eps) - rank(-eps)) * eps) / sigma`` and the centre moves by an Adam step of
size ``lr`` along it. The best of every code scored is kept.

Like the genetic algorithm (`neuronscope.core.genetic`) it sees only scores: the score
function may be a network under ``no_grad``, numpy code or a noisy neuron. Where the
GA recombines a population, the ES follows one estimated gradient, which scales better
to hundreds of genes (a 3x16x16 pixel grid of a 224x224 image).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from .errors import NeuronscopeError
from .genetic import Outcome, _score

__all__ = ["ESSettings", "rank_shape", "run_es"]


@dataclass(frozen=True)
class ESSettings:
    """The settings of the evolution strategy (see the module text).

    ``pairs`` antithetic pairs a generation (``2 * pairs + 1`` queries with the centre),
    ``sigma`` the standard deviation of the perturbations, ``lr`` Adam's step size.

    Example:
        >>> ESSettings(pairs=10).generation
        21
    """

    pairs: int = 25
    sigma: float = 0.5
    lr: float = 0.3

    def __post_init__(self) -> None:
        if isinstance(self.pairs, bool) or int(self.pairs) != self.pairs or self.pairs < 1:
            raise ValueError(f"pairs must be a whole number, 1 or more, got {self.pairs!r}")
        object.__setattr__(self, "pairs", int(self.pairs))
        if not (self.sigma > 0 and math.isfinite(self.sigma)):
            raise ValueError(f"sigma must be a positive number, got {self.sigma!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")

    @property
    def generation(self) -> int:
        """Queries a generation costs: both codes of every pair, and the centre."""
        return 2 * self.pairs + 1


def rank_shape(scores: torch.Tensor) -> torch.Tensor:
    """Scores [n] -> their ranks scaled to [-0.5, 0.5] (ties share their mean rank).

    Example:
        >>> rank_shape(torch.tensor([3.0, -1.0, 3.0, 10.0])).tolist()
        [0.0, -0.5, 0.0, 0.5]
    """
    n = len(scores)
    if n < 2:
        return torch.zeros(n, dtype=torch.float64)
    ordered = torch.sort(scores).values
    low = torch.searchsorted(ordered, scores, right=False)
    high = torch.searchsorted(ordered, scores, right=True) - 1
    return ((low + high).double() / 2) / (n - 1) - 0.5


def run_es(score_codes: Callable[[torch.Tensor], Any], start: torch.Tensor, budget: int,
           settings: ESSettings, rng: torch.Generator, *, stop_at: float | None = None,
           progress: bool = True, desc: str = "evolve (es)") -> Outcome:
    """Search from the code `start` [genes] until `budget` queries are spent.

    ``budget // (2 * pairs + 1)`` generations are run; each scores the centre and
    ``pairs`` antithetic pairs in one call of `score_codes` (codes [2 * pairs + 1, genes]
    -> one score per code: tensor, array or list; the centre is the first row). An error
    raised while scoring propagates with a note naming the generation. With `stop_at`,
    the search stops once a score reaches it. ``history`` holds the best score of each
    generation, ``mean_history`` the mean; ``best_code`` is the best code ever scored.

    Example:
        >>> target = torch.linspace(-1, 1, 6)
        >>> out = run_es(lambda c: -(c - target).pow(2).sum(1), torch.zeros(6), 630,
        ...              ESSettings(pairs=5, sigma=0.3, lr=0.1),
        ...              torch.Generator().manual_seed(0), progress=False)
        >>> out.queries, len(out.history), out.best_score > -0.05
        (627, 57, True)
    """
    from tqdm.auto import tqdm

    start = torch.as_tensor(start).detach().float().cpu()
    if start.dim() == 2 and start.shape[0] == 1:
        start = start[0]
    if start.dim() != 1 or start.numel() < 1:
        raise NeuronscopeError(f"the start of the evolution strategy must be one code of "
                               f"shape [genes] (or [1, genes]), got {tuple(start.shape)}")
    cost = settings.generation
    if int(budget) < cost:
        raise ValueError(f"budget={budget} queries is less than one generation of the "
                         f"evolution strategy (2 x {settings.pairs} pairs + the centre = "
                         f"{cost}): give budget >= {cost}, or fewer pairs")
    generations = int(budget) // cost
    centre, p = start.clone(), settings.pairs
    first = torch.zeros_like(centre, dtype=torch.float64)  # Adam's moments
    second = torch.zeros_like(first)
    out = Outcome(best_code=centre.clone(), best_score=-math.inf)
    with tqdm(total=generations * cost, desc=desc, disable=not progress, leave=False,
              unit="query") as bar:
        for g in range(generations):
            eps = torch.randn(p, centre.numel(), generator=rng)
            codes = torch.cat([centre[None], centre + settings.sigma * eps,
                               centre - settings.sigma * eps])
            scores = _score(score_codes, codes, 1, g)
            bar.update(cost)
            if out.record(codes, scores, cost, stop_at) or g + 1 == generations:
                break
            shaped = rank_shape(scores[1:])
            grad = ((shaped[:p] - shaped[p:])[:, None] * eps.double()).mean(0) / settings.sigma
            first = 0.9 * first + 0.1 * grad
            second = 0.999 * second + 0.001 * grad ** 2
            step = (first / (1 - 0.9 ** (g + 1))) / ((second / (1 - 0.999 ** (g + 1))).sqrt()
                                                     + 1e-8)
            centre = centre + (settings.lr * step).float()
    return out
