"""Tests of the built-in models: recipes, training, the weight cache. All fast (seconds)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torch import nn

import neuronscope.zoo as zoo
from neuronscope.core.errors import ModelLoadError, NeuronscopeError
from neuronscope.core.layers import layers
from neuronscope.core.model import load_model
from neuronscope.core.spec import input_spec
from neuronscope.zoo import training
from neuronscope.zoo.cache import cache_root, recipe_hash

SHAPES_LAYERS = [
    "conv1", "bn1", "relu1", "pool1", "conv2", "bn2", "relu2", "pool2", "conv3", "bn3",
    "relu3", "conv4", "bn4", "relu4", "pool4", "flatten", "fc5", "relu5", "drop5", "fc6",
]


@pytest.fixture(scope="module")
def trained_mlp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, nn.Module, dict]]:
    """digits-mlp trained once (a few seconds) into a module-wide cache folder."""
    folder = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NEURONSCOPE_CACHE", str(folder))
        model, metrics = zoo.train("digits-mlp", progress=False)
        yield folder, model, metrics


def _no_training(*args: object, **kwargs: object) -> None:
    raise AssertionError("fit() was called: the model was trained instead of read from cache")


def _same_weights(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_names_and_recipes() -> None:
    assert {"shapes-cnn", "digits-mlp", "digits-cnn"} <= set(zoo.names())
    for name in zoo.RECIPES:
        r = zoo.recipe(name)
        assert r.name == name and r.version and r.epochs > 0
        json.dumps(r.fields())  # every field is plain JSON


def test_unknown_name_lists_the_valid_ones() -> None:
    for call in (zoo.recipe, zoo.load, zoo.train):
        with pytest.raises(zoo.ZooModelNotFoundError) as info:
            call("shapes_cnn")
        err = info.value
        assert isinstance(err, KeyError) and isinstance(err, NeuronscopeError)
        assert isinstance(err, ModelLoadError)
        for name in zoo.names():
            assert name in str(err)
        assert "Did you mean 'shapes-cnn'" in str(err)


def test_unknown_override_is_refused() -> None:
    with pytest.raises(TypeError, match="epochz.*valid"):
        zoo.train("digits-mlp", epochz=1)


def test_cache_root_reads_the_environment_at_call_time(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("NEURONSCOPE_CACHE", str(tmp_path))
    assert cache_root() == tmp_path
    monkeypatch.delenv("NEURONSCOPE_CACHE")
    assert cache_root() == Path.home() / ".cache" / "neuronscope"


def test_digits_mlp_trains(trained_mlp: tuple[Path, nn.Module, dict]) -> None:
    folder, model, metrics = trained_mlp
    assert metrics["test_accuracy"] >= 0.9 and metrics["cached"] is False
    assert metrics["train_accuracy"] >= metrics["test_accuracy"] - 0.05
    assert not model.training
    spec = input_spec(model)
    assert spec.shape == (1, 8, 8) and spec.class_names == [str(d) for d in range(10)]
    weights = Path(metrics["cache_path"])
    assert weights.parent == folder / "zoo" and weights.suffix == ".safetensors"
    meta = json.loads(weights.with_suffix(".json").read_text())
    assert meta["recipe"]["name"] == "digits-mlp" and meta["torch_version"] == torch.__version__
    assert meta["metrics"]["test_accuracy"] == metrics["test_accuracy"]
    assert not [p for p in weights.parent.iterdir() if p.suffix == ".tmp"]
    assert [n for n, _ in model.named_children()] == [
        "flatten", "fc1", "relu1", "fc2", "relu2", "fc3"]


def test_second_load_comes_from_cache(
    trained_mlp: tuple[Path, nn.Module, dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, model, metrics = trained_mlp
    monkeypatch.setenv("NEURONSCOPE_CACHE", str(folder))
    monkeypatch.setattr(training, "fit", _no_training)
    again, meta = zoo.train("digits-mlp", progress=False)
    assert meta["cached"] is True and meta["cache_path"] == metrics["cache_path"]
    assert meta["test_accuracy"] == metrics["test_accuracy"]
    assert _same_weights(model, again)
    loaded = zoo.load("digits-mlp")
    assert not loaded.training and _same_weights(model, loaded)
    assert input_spec(loaded).class_names == input_spec(model).class_names
    via_spec = load_model("zoo:digits-mlp")
    assert _same_weights(model, via_spec)


def test_override_gives_another_cache_entry_and_determinism(
    trained_mlp: tuple[Path, nn.Module, dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, model, metrics = trained_mlp
    monkeypatch.setenv("NEURONSCOPE_CACHE", str(folder))
    rng_before = torch.get_rng_state()
    short, m1 = zoo.train("digits-mlp", progress=False, epochs=2)
    assert m1["cached"] is False and m1["cache_path"] != metrics["cache_path"]
    again, m2 = zoo.train("digits-mlp", progress=False, epochs=2, retrain=True)
    assert m2["cached"] is False and m2["cache_path"] == m1["cache_path"]
    assert _same_weights(short, again)  # same seed, same weights
    assert not _same_weights(short, model)
    assert torch.equal(torch.get_rng_state(), rng_before)  # the caller's RNG is untouched
    other, _ = zoo.train("digits-mlp", progress=False, epochs=2, seed=1)
    assert not _same_weights(short, other)


def test_hash_follows_recipe_and_architecture() -> None:
    r = zoo.recipe("digits-mlp")
    model = r.builder(r.n_classes)
    key = recipe_hash(r, model)
    assert recipe_hash(r, r.builder(r.n_classes)) == key
    assert recipe_hash(r.replace(description="changed"), model) == key
    assert recipe_hash(r.replace(lr=0.5), model) != key
    assert recipe_hash(r.replace(version="2"), model) != key
    assert recipe_hash(r, nn.Sequential(nn.Linear(64, 10))) != key


def test_damaged_cache_entry_is_retrained(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("NEURONSCOPE_CACHE", str(tmp_path))
    _, first = zoo.train("digits-mlp", progress=False, epochs=1)
    Path(first["cache_path"]).write_bytes(b"half a file")
    model, second = zoo.train("digits-mlp", progress=False, epochs=1)
    assert second["cached"] is False
    _, third = zoo.train("digits-mlp", progress=False, epochs=1)
    assert third["cached"] is True


def test_progress_false_is_silent(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NEURONSCOPE_CACHE", str(tmp_path))
    zoo.train("digits-cnn", progress=False, epochs=1, n_train=64)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_digits_cnn_architecture() -> None:
    model = zoo.digits_cnn(10)
    names = [n for n, _ in model.named_children()]
    assert names[:7] == ["conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "flatten"]
    assert names[7] == "fc3" and model(torch.zeros(3, 1, 8, 8)).shape == (3, 10)


def test_shapes_cnn_architecture() -> None:
    model = zoo.shapes_cnn(7).eval()
    assert [n for n, _ in model.named_children()] == SHAPES_LAYERS
    assert model(torch.zeros(2, 3, 64, 64)).shape == (2, 7)
    for name in ("relu1", "relu2", "relu3", "relu4", "relu5"):
        assert getattr(model, name).inplace
    info = {i.name: i for i in layers(model, torch.zeros(1, 3, 64, 64))}
    assert info["conv3"].n_units == 96 and info["fc6"].n_units == 7


def test_shapes_cnn_tiny_training(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NEURONSCOPE_CACHE", str(tmp_path))
    model, metrics = zoo.train("shapes-cnn", progress=False, n_train=64, n_test=32, epochs=1)
    assert metrics["n_train"] == 64 and metrics["n_test"] == 32
    spec = input_spec(model)
    assert spec.shape == (3, 64, 64)
    assert spec.class_names == ["circle", "square", "triangle", "star", "cross", "heart", "ring"]
    assert model(spec.example(2)).shape == (2, 7)


def test_augment_keeps_shape_and_is_deterministic() -> None:
    r = zoo.recipe("shapes-cnn").replace(flip=True, shift=3)
    x = torch.rand(8, 3, 16, 16)
    a = training.augment(x, r, torch.Generator().manual_seed(0))
    b = training.augment(x, r, torch.Generator().manual_seed(0))
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, x)
