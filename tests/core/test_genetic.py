"""The genetic algorithm (core/genetic.py) and the image genomes (core/genomes.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neuronscope.core.errors import NeuronscopeError
from neuronscope.core.genetic import GeneticSettings, check_scores, next_generation, run
from neuronscope.core.genomes import (
    FourierGenome,
    PixelGenome,
    check_generator,
    default_genome,
    sample_codes,
)

TARGET = torch.linspace(-1, 1, 12)


def sphere(codes: torch.Tensor) -> torch.Tensor:
    return -(codes - TARGET).pow(2).sum(1)


def go(score=sphere, budget: int = 400, **kwargs) -> object:
    settings = GeneticSettings(population=10)
    rng = torch.Generator().manual_seed(0)
    return run(score, torch.zeros(10, 12), budget, settings, rng, progress=False, **kwargs)


@pytest.mark.parametrize("bad", [dict(population=1), dict(mutation_rate=1.5),
                                 dict(mutation_size=0), dict(selectivity=-1),
                                 dict(heritability=2), dict(n_elites=20)])
def test_bad_settings_are_value_errors(bad: dict) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        GeneticSettings(**{"population": 20, **bad})


def test_next_generation_keeps_elites_and_mixes_parents() -> None:
    codes = torch.arange(40.0).view(8, 5)
    settings = GeneticSettings(population=8, n_elites=2, mutation_rate=0.0)
    new = next_generation(codes, torch.arange(8.0), settings, torch.Generator().manual_seed(0))
    assert torch.equal(new[:2], codes[[7, 6]])  # best first, unchanged
    # without mutation every gene of a child comes from some parent at that position
    for child in new[2:]:
        assert all(v in codes[:, j] for j, v in enumerate(child))
    # high selectivity: the children's genes come from the best codes
    sharp = GeneticSettings(population=8, selectivity=50.0, mutation_rate=0.0)
    picked = next_generation(codes, torch.arange(8.0) ** 3, sharp, torch.Generator())
    assert (picked[:, 0] >= 30).all()


def test_run_improves_is_deterministic_and_counts_queries() -> None:
    first, again = go(), go()
    assert first.queries == 400 and len(first.history) == 40
    assert first.best_score > first.history[0] + 3 and first.best_score > -1
    assert first.best_score == again.best_score and torch.equal(first.best_code, again.best_code)
    assert first.best_score == max(first.history)


def test_scores_of_any_kind_are_accepted() -> None:
    for wrap in (lambda s: s.numpy(), lambda s: s.tolist(), lambda s: s[:, None],
                 lambda s: s.float()):
        out = go(lambda c, wrap=wrap: wrap(sphere(c)), budget=50)
        assert out.best_score > -20
    assert check_scores(np.array([[1.0], [2.0]]), 2, "here").tolist() == [1.0, 2.0]


def test_wrong_shape_nan_and_raising_score_functions() -> None:
    with pytest.raises(NeuronscopeError, match=r"shape \(10, 2\).*generation 0.*shape \(10,\)"):
        go(lambda c: torch.zeros(len(c), 2))
    with pytest.raises(NeuronscopeError, match="not numbers"):
        go(lambda c: ["a"] * len(c))
    calls = []

    def nan_later(c: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        s = sphere(c)
        if len(calls) == 3:
            s[4] = float("nan")
        return s

    with pytest.raises(NeuronscopeError, match=r"nan for images \[4\] \(generation 2\)"):
        go(nan_later)

    def broken(c: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        if len(calls) > 5:
            raise RuntimeError("electrode lost")
        return sphere(c)

    calls.clear()
    with pytest.raises(RuntimeError, match="electrode lost") as info:
        go(broken)
    assert "generation 5" in "".join(info.value.__notes__)


def test_budget_repeats_and_stop() -> None:
    with pytest.raises(ValueError, match="budget=9 .* give budget >= 10"):
        go(budget=9)
    with pytest.raises(ValueError, match="budget=25 .* give budget >= 30"):
        go(budget=25, repeats=3)
    seen = []
    out = go(lambda c: seen.append(1) or sphere(c), budget=120, repeats=3)
    assert out.queries == 120 and len(seen) == 12 and len(out.history) == 4
    stopped = go(stop_at=-10.0, budget=4000)
    assert stopped.reached and stopped.best_score >= -10 and stopped.queries < 4000


def test_repeats_average_a_noisy_score() -> None:
    noise = torch.Generator().manual_seed(1)

    def noisy(c: torch.Tensor) -> torch.Tensor:
        return sphere(c) + 3 * torch.randn(len(c), generator=noise)

    out = go(noisy, budget=2000, repeats=4)
    assert float(sphere(out.best_code[None])) > -8  # true score improved from -8.9 at zero


def test_fourier_genome_decodes_smooth_images_in_range() -> None:
    genome = FourierGenome((3, 32, 32), frequencies=4)
    assert genome.code_size == 3 * 49
    codes = sample_codes(genome, 5, torch.Generator().manual_seed(0))
    images = genome.decode(codes)
    assert images.shape == (5, 3, 32, 32) and 0 <= images.min() and images.max() <= 1
    assert 0.15 < images.std() < 0.4  # contrast 2: neither flat nor saturated
    assert torch.equal(images, genome.decode(codes))
    step = (images[..., 1:] - images[..., :-1]).abs().mean()
    assert step < 0.1  # low frequencies: neighbouring pixels are close (noise: ~0.3)
    with pytest.raises(NeuronscopeError, match=r"shape \[n, 147\]"):
        genome.decode(torch.zeros(2, 5))
    with pytest.raises(NeuronscopeError, match=r"shape=\(C, H, W\)"):
        FourierGenome((64, 64))


def test_generators_are_duck_typed() -> None:
    class Gen:
        code_size, shape = 4, (1, 2, 2)

        def decode(self, codes: torch.Tensor) -> torch.Tensor:
            return codes.view(-1, 1, 2, 2).sigmoid()

    assert sample_codes(check_generator(Gen()), 3, torch.Generator()).shape == (3, 4)
    with pytest.raises(NeuronscopeError, match="missing: code_size, shape"):
        check_generator(object())
    assert isinstance(default_genome((1, 8, 8)), PixelGenome)
    assert isinstance(default_genome((3, 224, 224)), FourierGenome)
