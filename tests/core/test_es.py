"""The evolution strategy (core/es.py) and the coarse pixel genome (core/genomes.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from neuronscope.core.errors import NeuronscopeError
from neuronscope.core.es import ESSettings, rank_shape, run_es
from neuronscope.core.genomes import PixelGenome, es_genome

TARGET = np.linspace(-1, 1, 20)


def quadratic(codes: torch.Tensor) -> np.ndarray:
    """Numpy, not torch: the ES sees only the numbers. Optimum 0 at TARGET."""
    return -((codes.numpy() - TARGET) ** 2).sum(1)


def go(score=quadratic, budget: int = 2200, settings: ESSettings | None = None, seed: int = 0,
       **kwargs) -> object:
    settings = settings or ESSettings(pairs=10, sigma=0.3, lr=0.1)
    return run_es(score, torch.zeros(20), budget, settings, torch.Generator().manual_seed(seed),
                  progress=False, **kwargs)


@pytest.mark.parametrize(("bad", "match"), [(dict(pairs=0), "pairs"), (dict(pairs=2.5), "pairs"),
                                            (dict(sigma=0), "sigma"), (dict(lr=-1.0), "lr"),
                                            (dict(sigma=float("nan")), "sigma")])
def test_bad_settings_are_value_errors(bad: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ESSettings(**bad)


def test_defaults_and_generation_size() -> None:
    assert ESSettings() == ESSettings(pairs=25, sigma=0.5, lr=0.3)
    assert ESSettings().generation == 51 and ESSettings(pairs=1).generation == 3


def test_rank_shape_handles_ties_and_ignores_the_scale() -> None:
    assert rank_shape(torch.tensor([5.0, 1.0, 5.0, 9.0, 9.0])).tolist() == [
        -0.125, -0.5, -0.125, 0.375, 0.375]  # ties share the mean of their ranks
    s = torch.randn(9, generator=torch.Generator().manual_seed(0))
    assert torch.equal(rank_shape(s), rank_shape(s.exp() * 100 - 3))
    assert rank_shape(torch.ones(4)).tolist() == [0.0] * 4
    assert rank_shape(torch.ones(1)).tolist() == [0.0]


def test_reaches_the_optimum_of_a_quadratic_and_counts_queries() -> None:
    out = go()
    assert out.queries == 2184 and len(out.history) == len(out.mean_history) == 104
    start = -float((TARGET ** 2).sum())
    assert out.history[0] < start / 2 and out.best_score > -0.1  # from about -7.4
    assert np.abs(out.best_code.numpy() - TARGET).max() < 0.2
    assert out.best_score == max(out.history) and not out.reached
    assert out.mean_history[-1] > out.mean_history[0] + 5


def test_deterministic_for_a_seed_and_only_ranks_count() -> None:
    first, again, other = go(budget=420), go(budget=420), go(budget=420, seed=1)
    assert torch.equal(first.best_code, again.best_code) and first.history == again.history
    assert not torch.equal(first.best_code, other.best_code)
    # a monotone transform of the score gives the same search (the same codes, in order)
    shifted = go(lambda c: np.exp(quadratic(c) / 10) * 3 + 1, budget=420)
    assert torch.equal(shifted.best_code, first.best_code)


def test_stop_at_and_the_centre_is_scored_first() -> None:
    seen = []

    def score(codes: torch.Tensor) -> np.ndarray:
        seen.append(codes.clone())
        return quadratic(codes)

    out = go(score, stop_at=-2.0)
    assert out.reached and out.best_score >= -2.0 and out.queries == 21 * len(seen) < 2184
    assert torch.equal(seen[0][0], torch.zeros(20)) and all(len(c) == 21 for c in seen)
    # antithetic: the pairs are mirrored around the centre (the first row)
    assert torch.allclose(seen[1][1:11] + seen[1][11:], 2 * seen[1][0].expand(10, 20), atol=1e-6)


def test_bad_scores_and_budgets_get_clear_errors() -> None:
    with pytest.raises(NeuronscopeError, match=r"shape \(20,\) for 21 images \(generation 0\)"):
        go(lambda c: quadratic(c)[1:])
    with pytest.raises(NeuronscopeError, match=r"returned nan for images \[0\] \(generation 0\)"
                                               ".*finite"):
        go(lambda c: np.where(np.arange(len(c)) == 0, np.nan, quadratic(c)))
    calls = []

    def fails(codes: torch.Tensor) -> np.ndarray:
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("the neuron died")
        return quadratic(codes)

    with pytest.raises(RuntimeError, match="the neuron died") as info:
        go(fails)
    assert "while scoring generation 2, 21 images" in "".join(info.value.__notes__)
    with pytest.raises(ValueError, match=r"less than one generation .* give budget >= 21"):
        go(budget=20)
    with pytest.raises(NeuronscopeError, match=r"one code of shape \[genes\]"):
        run_es(quadratic, torch.zeros(2, 20), 100, ESSettings(pairs=2), torch.Generator(),
               progress=False)


def test_a_start_of_shape_1_by_genes_is_one_code() -> None:
    out = run_es(quadratic, torch.zeros(1, 20), 21, ESSettings(pairs=10), torch.Generator(),
                 progress=False)
    assert out.queries == 21 and out.best_code.shape == (20,)


def test_pixel_genome_on_a_coarse_grid() -> None:
    genome = PixelGenome((2, 8, 12), grid=(4, 6))
    assert genome.code_size == 2 * 4 * 6 and genome.grid == (4, 6)
    codes = torch.randn(3, 48, generator=torch.Generator().manual_seed(0)) * 5
    images = genome.decode(codes)
    assert images.shape == (3, 2, 8, 12) and images.min() >= 0 and images.max() <= 1
    assert genome.decode(torch.zeros(1, 48)).unique().tolist() == [0.5]
    # bilinear upsampling of the coarse logits (not blocks), then the sigmoid
    coarse = 2.0 * codes.view(3, 2, 4, 6)
    smooth = torch.sigmoid(F.interpolate(coarse, size=(8, 12), mode="bilinear"))
    blocks = torch.sigmoid(F.interpolate(coarse, size=(8, 12), mode="nearest"))
    assert torch.allclose(images, smooth) and not torch.allclose(images, blocks)
    square = PixelGenome((3, 224, 224), grid=16)
    assert square.grid == (16, 16) and square.code_size == 768
    assert square.decode(torch.zeros(2, 768)).shape == (2, 3, 224, 224)
    # a grid of the full size is one gene per pixel, as without one
    full, plain = PixelGenome((1, 4, 4), grid=4), PixelGenome((1, 4, 4))
    assert torch.equal(full.decode(codes[:, :16]), plain.decode(codes[:, :16]))


def test_pixel_genome_repr_and_bad_grids() -> None:
    assert repr(PixelGenome((1, 8, 8))) == "PixelGenome(shape=(1, 8, 8))"
    assert repr(PixelGenome((3, 32, 32), grid=8)) == "PixelGenome(shape=(3, 32, 32), grid=(8, 8))"
    for bad in (0, 9, (4, 0), (2, 3, 4), "16", 2.5, True):
        with pytest.raises(NeuronscopeError, match=r"grid must be .* \(8, 8\)"):
            PixelGenome((1, 8, 8), grid=bad)


def test_es_genome_is_a_grid_of_at_most_16() -> None:
    assert es_genome((3, 224, 224)).grid == (16, 16) and es_genome((3, 224, 224)).code_size == 768
    assert es_genome((1, 8, 8)).grid == (8, 8) and es_genome((1, 8, 40)).grid == (8, 16)
    assert es_genome((1, 8, 8)).contrast == 1.0
