"""`ns.fooling_images`: unrecognizable images classified with high confidence."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

import neuronscope as ns
from neuronscope.core.errors import NeuronscopeError
from neuronscope.core.spec import InputSpec, attach_spec
from neuronscope.methods.fooling import Fooling, fooling_images


def linear(n_classes: int = 3) -> nn.Module:
    """logit k = 10 * pixel k (a dropout to see the mode restored)."""
    layer = nn.Linear(4, n_classes)
    with torch.no_grad():
        layer.bias.zero_()
        layer.weight.copy_(10 * torch.eye(n_classes, 4))
    model = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), layer)
    return attach_spec(model, InputSpec(shape=(1, 2, 2), class_names=["a", "b", "c"]))


@pytest.mark.parametrize("method", ["gradient", "evolution"])
def test_both_methods_reach_the_target_and_leave_the_model_alone(method: str) -> None:
    model = linear().train()
    fool = fooling_images(model, ["c", 0], method=method, target_confidence=0.95,
                          progress=False)
    assert fool.classes == [2, 0] and fool.images.shape == (2, 1, 2, 2)
    assert bool(fool.reached.all()) and fool.images.min() >= 0 and fool.images.max() <= 1
    assert (fool.queries >= 1).all() and (fool.queries <= (500 if method == "gradient"
                                                           else 20000)).all()
    with torch.no_grad():  # the confidence is that of the returned images
        probs = model.eval()(fool.images).softmax(1)
    assert torch.allclose(probs[[0, 1], [2, 0]], fool.confidence, atol=1e-5)
    model.train()
    assert model[1].training and all(p.grad is None for p in model.parameters())
    assert [label.split()[0] for label in fool.labels] == ["c", "a"]


def test_digits_cnn_is_fooled_both_ways() -> None:
    """On the built-in digits-cnn (trained once per test session when not cached)."""
    model = ns.zoo.load("digits-cnn", progress=False)
    grad = fooling_images(model, [1, 7], method="gradient", progress=False)
    assert (grad.confidence >= 0.99).all() and (grad.queries <= 500).all()
    evo = fooling_images(model, [1, 7], method="evolution", budget=20000,
                         target_confidence=0.9, progress=False)
    assert (evo.confidence >= 0.9).all() and (evo.queries <= 20000).all()
    assert evo.queries.dtype == torch.int64 and evo.method == "evolution"


def test_result_round_trips_and_is_deterministic(tmp_path: Path) -> None:
    fool = fooling_images(linear(), [1], method="evolution", seed=3, progress=False)
    again = fooling_images(linear(), [1], method="evolution", seed=3, progress=False)
    assert torch.equal(fool.images, again.images) and torch.equal(fool.queries, again.queries)
    loaded = Fooling.load(fool.save(tmp_path / "f.safetensors"))
    assert torch.equal(loaded.images, fool.images) and loaded.classes == [1]
    assert loaded.class_names == ["a", "b", "c"] and loaded.target_confidence == 0.99
    assert torch.equal(loaded.queries, fool.queries) and loaded.settings == fool.settings


def test_budget_runs_out() -> None:
    fool = fooling_images(linear(), [0, 1], budget=1, target_confidence=0.999, progress=False)
    assert fool.queries.tolist() == [1, 1] and not fool.reached.any()
    short = fooling_images(linear(), [0], method="evolution", budget=20, search="genetic",
                           target_confidence=0.9999, progress=False)
    assert short.queries.tolist() == [20] and not short.reached.any()
    # the evolution strategy's generation: 10 antithetic pairs and their centre
    short = fooling_images(linear(), [0], method="evolution", budget=42,
                           target_confidence=0.9999, progress=False)
    assert short.queries.tolist() == [42] and not short.reached.any()
    with pytest.raises(ValueError, match=r"less than one generation .* give budget >= 21"):
        fooling_images(linear(), [0], method="evolution", budget=20, progress=False)


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="method must be one of"):
        fooling_images(linear(), method="magic")
    with pytest.raises(ValueError, match="target_confidence"):
        fooling_images(linear(), target_confidence=1.0)
    with pytest.raises(NeuronscopeError, match=r"unknown class 3: give class numbers 0 \.\. 2 "
                                               "or names such as 'a'"):
        fooling_images(linear(), [3])
    with pytest.raises(NeuronscopeError, match="unknown class 'dog'"):
        fooling_images(linear(), ["dog"])
    with pytest.raises(NeuronscopeError, match="needs a model with an image InputSpec"):
        fooling_images(nn.Linear(4, 3))
    conv = attach_spec(nn.Conv2d(1, 2, 1), InputSpec(shape=(1, 2, 2)))
    with pytest.raises(NeuronscopeError, match=r"logits \[n, classes\]; this model outputs"):
        fooling_images(conv)
    with pytest.raises(NeuronscopeError, match="makes images of"):
        fooling_images(linear(), method="evolution", generator=ns.core.genomes.PixelGenome(
            (1, 3, 3)))


@pytest.mark.parametrize("search", ["es", "genetic"])
def test_both_searches_reach_the_target_with_their_own_or_a_given_genome(search: str) -> None:
    fool = fooling_images(linear(), [0, "c"], method="evolution", search=search,
                          target_confidence=0.99, progress=False)
    assert bool(fool.reached.all()) and fool.settings["search"] == search
    generation = 21 if search == "es" else 20
    assert (fool.queries % generation == 0).all() and (fool.queries <= 20000).all()
    with torch.no_grad():
        probs = linear().eval()(fool.images).softmax(1)
    assert torch.allclose(probs[[0, 1], [0, 2]], fool.confidence, atol=1e-5)
    given = ns.core.genomes.FourierGenome((1, 2, 2), frequencies=2)
    again = fooling_images(linear(), [1], method="evolution", search=search, generator=given,
                           population=10, target_confidence=0.9, progress=False)
    assert bool(again.reached.all()) and again.settings["population"] == 10


def test_the_default_search_is_the_evolution_strategy() -> None:
    default = fooling_images(linear(), [1], method="evolution", progress=False)
    es = fooling_images(linear(), [1], method="evolution", search="es", progress=False)
    assert default.settings["search"] == "es" and torch.equal(default.images, es.images)
    assert fooling_images(linear(), [1], progress=False).settings["search"] == "es"


def test_unknown_search_and_bad_populations_are_refused() -> None:
    with pytest.raises(ValueError, match=r"search must be one of \('es', 'genetic'\).*'cma'"):
        fooling_images(linear(), method="evolution", search="cma")
    for search in ("es", "genetic"):
        with pytest.raises(ValueError, match="population must be a whole number, 2 or more"):
            fooling_images(linear(), method="evolution", search=search, population=1)


def test_logits_inside_a_dict_or_tuple_output() -> None:
    class Heads(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = linear()

        def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
            logits = self.body(x)
            return {"features": x.flatten(1), "logits": logits, "scores": logits}

    model = attach_spec(Heads(), InputSpec(shape=(1, 2, 2)))
    fool = fooling_images(model, [1], target_confidence=0.9, progress=False)
    assert bool(fool.reached.all())
    assert bool(fooling_images(model, [1], output="scores", target_confidence=0.9,
                               progress=False).reached.all())
    with pytest.raises(NeuronscopeError, match=r"holds no 'probs': give output= one of "
                                               r"\['features', 'logits', 'scores'\]"):
        fooling_images(model, [1], output="probs")
