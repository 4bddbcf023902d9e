"""`ns.evolve`: black-box evolution (XDream) through any score function."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import neuronscope as ns
from neuronscope.core.errors import NeuronscopeError
from neuronscope.core.genomes import FourierGenome
from neuronscope.core.spec import InputSpec, attach_spec
from neuronscope.methods.evolve import Evolution, evolve, unit_scorer
from neuronscope.zoo.cache import entry_paths, recipe_hash


def trained(name: str) -> tuple[nn.Module, str]:
    """The trained built-in model when the test cache holds it (run the tests with
    NEURONSCOPE_CACHE=~/.cache/neuronscope to use it), else the same recipe trained for one
    short seeded epoch here (a few seconds: its units already prefer shapes and colours).
    Returns (model, which)."""
    recipe = ns.zoo.recipe(name)
    if entry_paths(name, recipe_hash(recipe, recipe.builder(recipe.n_classes)))[1].is_file():
        return ns.zoo.load(name, progress=False), "trained"
    model, _ = ns.zoo.train(name, n_train=512, n_test=64, epochs=1, progress=False)
    return model.eval(), "one short epoch"


def brightness(images: torch.Tensor) -> np.ndarray:
    return images.numpy().mean(axis=(1, 2, 3))


def test_evolution_beats_the_best_dataset_images_of_a_shapes_cnn_unit() -> None:
    """Acceptance (issue #13): given only a numpy score function that reads one unit of
    shapes-cnn, evolution drives the unit above the median of its top-9 test images."""
    model, which = trained("shapes-cnn")
    spec, layer, unit = ns.input_spec(model), "conv4", 32
    data = ns.datasets.load("shapes", split="test")
    top = ns.top_examples(model, data, layers=[layer], k=9, reduce="mean", progress=False)
    median = float(top[layer].values[unit].median())

    def score(images: np.ndarray) -> np.ndarray:  # a black box: numpy in, numpy out
        with torch.no_grad(), ns.record(model, [layer]) as rec:
            model(spec.to_model(torch.as_tensor(images)))
        return rec[layer][:, unit].mean((1, 2)).numpy()

    evo = evolve(lambda x: score(x.numpy()), shape=spec.shape, budget=2000, seed=0,
                 progress=False)
    assert evo.queries == 2000 and evo.generations == 100
    print(f"shapes-cnn ({which}) {layer}:{unit}: evolved "
          f"{evo.best_score:.3f}, top-9 median {median:.3f}")
    assert evo.best_score > median
    assert float(score(evo.best_image[None].numpy())[0]) == pytest.approx(evo.best_score,
                                                                           rel=1e-4)
    assert evo.history[-1] > evo.history[0]


def test_result_round_trips_and_runs_are_deterministic(tmp_path: Path) -> None:
    evo = evolve(lambda x: brightness(x), shape=(1, 8, 8), budget=200, progress=False)
    again = evolve(lambda x: brightness(x), shape=(1, 8, 8), budget=200, progress=False)
    assert torch.equal(evo.best_code, again.best_code) and evo.best_score == again.best_score
    loaded = Evolution.load(evo.save(tmp_path / "evo.safetensors"))
    assert torch.equal(loaded.best_image, evo.best_image) and loaded.queries == 200
    assert torch.equal(loaded.history, evo.history) and loaded.settings == evo.settings
    assert loaded.best_score == evo.best_score and loaded.settings["population"] == 20


def test_any_generator_and_any_output_kind() -> None:
    class Gray:  # a generator without sample_codes: codes from the standard normal
        code_size, shape = 1, (1, 4, 4)

        def decode(self, codes: torch.Tensor) -> torch.Tensor:
            return codes.sigmoid().view(-1, 1, 1, 1).expand(-1, 1, 4, 4)

    for out in (lambda s: s, lambda s: s.tolist(), lambda s: torch.as_tensor(s)[:, None]):
        evo = evolve(lambda x, out=out: out(brightness(x)), generator=Gray(), budget=200,
                     progress=False)
        assert evo.best_score > 0.85 and evo.best_image.shape == (1, 4, 4)
    fourier = evolve(lambda x: -brightness(x), generator=FourierGenome((3, 16, 16)),
                     budget=200, progress=False)
    assert fourier.best_score > fourier.history[0] + 0.05
    assert "FourierGenome" in fourier.settings["generator"]


def test_noisy_scores_are_averaged_over_repeats() -> None:
    rng = np.random.default_rng(0)
    evo = evolve(lambda x: brightness(x) + rng.normal(0, 0.1, len(x)), shape=(1, 8, 8),
                 budget=4000, repeats=5, progress=False)
    assert evo.queries == 4000 and evo.generations == 40
    truth = float(evo.best_image.mean())  # from 0.5 at the start
    assert truth > 0.7 and abs(evo.best_score - truth) < 0.15  # not just the luckiest draw


def test_bad_input_is_refused_with_what_would_be_right() -> None:
    with pytest.raises(NeuronscopeError, match=r"shape \(20, 3\) .*generation 0.*shape \(20,\)"):
        evolve(lambda x: np.zeros((len(x), 3)), shape=(1, 8, 8), budget=100, progress=False)
    with pytest.raises(NeuronscopeError, match="nan.*finite"):
        evolve(lambda x: np.full(len(x), np.nan), shape=(1, 8, 8), budget=100, progress=False)
    state = {"n": 0}

    def dies(x: torch.Tensor) -> np.ndarray:
        state["n"] += 1
        if state["n"] == 4:
            raise OSError("rig disconnected")
        return brightness(x)

    with pytest.raises(OSError, match="rig disconnected") as info:
        evolve(dies, shape=(1, 8, 8), budget=200, progress=False)
    assert "generation 3" in "".join(info.value.__notes__)
    with pytest.raises(ValueError, match="budget=10 .*give budget >= 20"):
        evolve(brightness, shape=(1, 8, 8), budget=10, progress=False)
    with pytest.raises(NeuronscopeError, match="give generator=.*or shape="):
        evolve(brightness)
    with pytest.raises(NeuronscopeError, match="not an image generator"):
        evolve(brightness, generator="fourier")
    with pytest.raises(ValueError, match="mutation_rate"):
        evolve(brightness, shape=(1, 8, 8), mutation_rate=2.0)


def test_unit_scorer_is_a_black_box_that_restores_the_mode() -> None:
    model = attach_spec(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Dropout(0.5), nn.ReLU()),
                        InputSpec(shape=(1, 8, 8)))
    model.train()
    score = unit_scorer(model, "2:1")
    x = torch.rand(3, 1, 8, 8)
    assert torch.equal(score(x), score(x)) and score(x).shape == (3,)  # eval: no dropout
    assert model.training and model[1].training
    with pytest.raises(ns.LayerNotFoundError):
        unit_scorer(model, "conv9:0")
