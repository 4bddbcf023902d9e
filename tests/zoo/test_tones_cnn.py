"""The zoo's spectrogram convnet tones-cnn, trained with the classify task on tones."""

from __future__ import annotations

import pytest
import torch

import neuronscope as ns
from neuronscope.zoo.cache import entry_paths, recipe_hash
from neuronscope.zoo.recipes import recipe, tones_cnn
from neuronscope.zoo.training import fit


def test_recipe_and_layers() -> None:
    assert "tones-cnn" in ns.zoo.names()
    r = recipe("tones-cnn")
    assert (r.dataset, r.n_classes, r.task) == ("tones", 6, "classify")
    model = r.builder(r.n_classes)
    layers = {info.name: info for info in ns.layers(model, torch.zeros(1, 1, 64, 63))}
    assert layers["conv4"].n_units == 64 and layers["conv4"].shape == (64, 8, 7)
    assert model(torch.zeros(3, 1, 64, 63)).shape == (3, 6)


def test_trains_a_little_with_the_classify_task() -> None:
    r = recipe("tones-cnn").replace(n_train=96, n_test=24, epochs=1, batch_size=32)
    metrics, spec = fit(r, tones_cnn(6), progress=False)
    assert metrics["n_train"] == 96 and metrics["n_test"] == 24
    assert spec.kind == "audio" and spec.shape == (1, 64, 63)
    assert spec.class_names[:3] == ["sine", "harmonic", "vibrato"]
    assert spec.extra["sample_rate"] == 8000


def test_the_cached_model() -> None:
    """The real tones-cnn, when the test cache holds it (run with
    NEURONSCOPE_CACHE=~/.cache/neuronscope); never trained here."""
    r = recipe("tones-cnn")
    if not entry_paths(r.name, recipe_hash(r, r.builder(r.n_classes)))[1].is_file():
        pytest.skip("tones-cnn is not in the cache (about 1.5 minutes to train)")
    model = ns.zoo.load("tones-cnn", progress=False)
    assert ns.input_spec(model).kind == "audio"
    test = ns.datasets.load("tones", split="test")
    X, y = test.tensors()
    with torch.no_grad():
        acc = float((model(X).argmax(1) == y).float().mean())
    assert acc >= 0.97
