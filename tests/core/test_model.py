"""Tests of model loading: factories from files, weights files, refusal of pickled code."""

from __future__ import annotations

import importlib.util
import textwrap
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from torch import nn

from neuronscope.core.errors import ModelLoadError, NeuronscopeError, UnsafeCheckpointError
from neuronscope.core.model import (
    imagenet_spec,
    load_model,
    load_weights,
    read_state_dict,
    save_weights,
)
from neuronscope.core.spec import InputSpec, input_spec

HAS_TORCHVISION = importlib.util.find_spec("torchvision") is not None

FACTORY_FILE = """
from collections import OrderedDict
import torch
from torch import nn
from neuronscope.core.spec import InputSpec, attach_spec

def _net():
    torch.manual_seed(0)
    return nn.Sequential(OrderedDict([("fc1", nn.Linear(4, 3)), ("relu", nn.ReLU()),
                                      ("fc2", nn.Linear(3, 2))]))

def plain():
    return _net()

def with_attached():
    return attach_spec(_net(), InputSpec(shape=(4,), kind="vector", class_names=["a", "b"]))

def pair():
    return _net(), InputSpec(shape=(4,), kind="vector", class_names=["x", "y"])

def not_a_module():
    return 42

def bad_pair():
    return _net(), "not a spec"

def broken():
    raise RuntimeError("boom")
"""


def _net() -> nn.Sequential:
    return nn.Sequential(OrderedDict([("fc1", nn.Linear(4, 3)), ("relu", nn.ReLU()),
                                      ("fc2", nn.Linear(3, 2))]))


@pytest.fixture
def factory_file(tmp_path: Path) -> Path:
    path = tmp_path / "my_models.py"
    path.write_text(textwrap.dedent(FACTORY_FILE))
    return path


def test_factory_returning_a_module(factory_file: Path) -> None:
    model = load_model(f"{factory_file}:plain")
    assert isinstance(model, nn.Sequential) and not model.training
    assert input_spec(model) is None
    model.train()
    model = load_model(f"{factory_file}:with_attached")
    assert not model.training
    assert input_spec(model).class_names == ["a", "b"]


def test_factory_returning_a_pair(factory_file: Path) -> None:
    model = load_model(f"{factory_file}:pair")
    spec = input_spec(model)
    assert isinstance(spec, InputSpec) and spec.class_names == ["x", "y"]
    assert model(torch.zeros(1, 4)).shape == (1, 2)


def test_two_files_with_the_same_name_do_not_clash(tmp_path: Path) -> None:
    for sub, width in (("a", 3), ("b", 5)):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "net.py").write_text(
            f"from torch import nn\ndef build():\n    return nn.Linear(2, {width})\n")
    assert load_model(f"{tmp_path / 'a' / 'net.py'}:build").out_features == 3
    assert load_model(f"{tmp_path / 'b' / 'net.py'}:build").out_features == 5


@pytest.mark.parametrize("suffix, words", [
    ("missing.py:build", ["no file", "nn.Module"]),
    ("{file}:nope", ["no function 'nope'", "plain", "pair"]),
    ("{file}:not_a_module", ["returned int", "nn.Module", "(module, InputSpec)"]),
    ("{file}:bad_pair", ["InputSpec"]),
    ("{file}:broken", ["raised RuntimeError", "boom"]),
    ("{file}", ["zoo:NAME", "file.py:factory"]),
    ("model.txt:build", [".py"]),
])
def test_spec_errors_say_what_is_expected(
    factory_file: Path, tmp_path: Path, suffix: str, words: list[str]
) -> None:
    spec = suffix.format(file=factory_file)
    if spec.startswith("missing") or spec.startswith("model.txt"):
        spec = str(tmp_path / spec)
    with pytest.raises(ModelLoadError) as info:
        load_model(spec)
    assert isinstance(info.value, NeuronscopeError) and isinstance(info.value, ValueError)
    for word in words:
        assert word in str(info.value)


def test_zoo_spec_dispatches_to_the_zoo(monkeypatch: pytest.MonkeyPatch) -> None:
    import neuronscope.zoo

    calls = []

    def fake_load(name: str, **kwargs: object) -> nn.Module:
        calls.append(name)
        return _net().train()

    monkeypatch.setattr(neuronscope.zoo, "load", fake_load)
    model = load_model("zoo:digits-mlp")
    assert calls == ["digits-mlp"] and not model.training


@pytest.mark.skipif(HAS_TORCHVISION, reason="torchvision is installed")
def test_torchvision_missing_is_a_clear_error() -> None:
    with pytest.raises(ModelLoadError, match="torchvision.*not installed"):
        load_model("torchvision:resnet18")


@pytest.mark.skipif(not HAS_TORCHVISION, reason="torchvision is not installed")
def test_torchvision_model_has_imagenet_spec() -> None:
    model = load_model("torchvision:resnet18")
    spec = input_spec(model)
    assert spec.shape == (3, 224, 224) and spec.mean == imagenet_spec().mean
    with pytest.raises(ModelLoadError, match="no model"):
        load_model("torchvision:not_a_real_net")


def test_safetensors_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(1)
    src, dst = _net(), _net()
    path = save_weights(src, tmp_path / "sub" / "w.safetensors")
    assert path.is_file()
    assert [p.name for p in path.parent.iterdir()] == ["w.safetensors"]  # no temp files left
    load_weights(dst, path)
    for (k, a), b in zip(src.state_dict().items(), dst.state_dict().values(), strict=True):
        assert torch.equal(a, b), k


def test_load_model_with_weights(factory_file: Path, tmp_path: Path) -> None:
    torch.manual_seed(5)
    trained = _net()
    save_weights(trained, tmp_path / "w.safetensors")
    model = load_model(f"{factory_file}:pair", weights=tmp_path / "w.safetensors")
    assert torch.equal(model.fc1.weight, trained.fc1.weight)
    assert input_spec(model).class_names == ["x", "y"]


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".bin", ".ckpt"])
@pytest.mark.parametrize("wrap", [None, "state_dict", "model", "model_state_dict"])
def test_torch_checkpoint_round_trip(tmp_path: Path, suffix: str, wrap: str | None) -> None:
    torch.manual_seed(2)
    src, dst = _net(), _net()
    state = src.state_dict()
    obj = state if wrap is None else {wrap: state, "epoch": 3, "note": "hi"}
    path = tmp_path / f"w{suffix}"
    torch.save(obj, path)
    load_weights(dst, path)
    assert torch.equal(src.fc2.bias, dst.fc2.bias)


def test_mismatched_keys_are_listed(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    state = _net().state_dict()
    state["extra.weight"] = torch.zeros(1)
    del state["fc2.bias"]
    save_weights(state, path)
    with pytest.raises(ModelLoadError) as info:
        load_weights(_net(), path)
    message = str(info.value)
    assert "fc2.bias" in message and "extra.weight" in message
    assert "missing" in message and "unexpected" in message


def test_shape_mismatch_is_a_model_load_error(tmp_path: Path) -> None:
    path = save_weights(nn.Linear(4, 5), tmp_path / "w.safetensors")
    with pytest.raises(ModelLoadError, match="do not fit"):
        load_weights(nn.Linear(4, 3), path)


def test_unreadable_and_unknown_weight_files(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="no weights file"):
        read_state_dict(tmp_path / "absent.safetensors")
    (tmp_path / "w.npz").write_bytes(b"x")
    with pytest.raises(ModelLoadError, match=".safetensors"):
        read_state_dict(tmp_path / "w.npz")
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelLoadError, match="cannot read"):
        read_state_dict(tmp_path / "junk.safetensors")
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(ModelLoadError, match="expected a state dict"):
        read_state_dict(tmp_path / "list.pt")


class _Payload:
    """Unpickling this creates a marker file: what a malicious checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple:
        return (open, (self.marker, "w"))


def test_malicious_checkpoint_is_refused_and_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"fc1.weight": torch.zeros(3, 4), "payload": _Payload(marker)}, path)
    with pytest.raises(UnsafeCheckpointError) as info:
        read_state_dict(path)
    message = str(info.value)
    assert "pickle" in message and "safetensors" in message
    assert not marker.exists()
    with pytest.raises(UnsafeCheckpointError):
        load_weights(_net(), path)
    assert not marker.exists()
    # the payload is real: an unsafe load would have run it
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_a_refused_weights_file_changes_nothing(tmp_path: Path) -> None:
    good = _net().state_dict()
    partial = {k: torch.full_like(v, 7.0) for k, v in good.items() if not k.startswith("fc2")}
    path = save_weights(partial, tmp_path / "partial.safetensors")
    target = _net()
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(ModelLoadError, match="missing"):
        load_weights(target, path)
    assert all(torch.equal(before[k], v) for k, v in target.state_dict().items())
    torch.save(good, tmp_path / "model.pth.tar")
    assert set(read_state_dict(tmp_path / "model.pth.tar")) == set(good)


def test_factory_file_with_dataclass_and_sibling_import(tmp_path: Path) -> None:
    (tmp_path / "blocks.py").write_text("from torch import nn\nWIDTH = 6\n")
    (tmp_path / "net.py").write_text(textwrap.dedent("""
        from __future__ import annotations
        import pickle
        from dataclasses import dataclass
        from torch import nn
        from blocks import WIDTH

        @dataclass
        class Config:
            width: int = WIDTH

        def build() -> nn.Module:
            return nn.Linear(4, Config().width)
    """))
    model = load_model(f"{tmp_path / 'net.py'}:build")
    assert model.out_features == 6
    import pickle

    assert pickle.loads(pickle.dumps(model)).out_features == 6


def test_logits_are_found_or_the_output_is_refused() -> None:
    from neuronscope.core.model import logits_of

    scores = torch.ones(2, 3)
    assert logits_of((scores, torch.zeros(2))) is scores
    assert logits_of({"out": scores}) is scores
    assert logits_of({"features": torch.zeros(2, 5), "logits": scores}) is scores
    with pytest.raises(NeuronscopeError, match="keys: features, head"):
        logits_of({"features": torch.zeros(2, 5), "head": scores})
