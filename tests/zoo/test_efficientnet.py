"""efficientnet-lite0: packaged ImageNet weights, stable layer names, right answers on
bundled photographs of known content."""

from __future__ import annotations

import pytest
import torch

import neuronscope as ns
from neuronscope.data.photos import photo
from neuronscope.zoo.efficientnet import efficientnet_lite0

# bundled photograph -> ImageNet classes that name its content
KNOWN = {
    "chelsea": {"tabby", "tiger cat", "Egyptian cat"},  # a tabby cat
    "coffee": {"espresso", "cup", "coffee mug"},
    "camera": {"tripod", "reflex camera"},  # a cameraman behind a tripod
    "motorcycle": {"moped", "motor scooter", "crash helmet", "disc brake"},
    "rocket": {"missile", "projectile", "space shuttle"},
    "china": {"palace", "bell tower", "castle", "pagoda"},  # a temple roof
}


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    return ns.zoo.load("efficientnet-lite0")


def top5(model: torch.nn.Module, name: str) -> list[str]:
    spec = ns.input_spec(model)
    x = spec.to_model(photo(name, 224)[None])
    with torch.no_grad():
        logits = model(x)[0]
    return [spec.class_names[i] for i in logits.topk(5).indices.tolist()]


@pytest.mark.parametrize("name", sorted(KNOWN))
def test_top5_names_the_content(model: torch.nn.Module, name: str) -> None:
    top = top5(model, name)
    assert KNOWN[name] & set(top), f"{name}: top-5 {top}"
    if name in ("chelsea", "coffee", "camera"):  # unambiguous photographs: right at top-1
        assert top[0] in KNOWN[name], f"{name}: top-1 {top[0]}"


def test_spec_and_names(model: torch.nn.Module) -> None:
    spec = ns.input_spec(model)
    assert spec.shape == (3, 224, 224) and spec.mean == (0.485, 0.456, 0.406)
    assert len(spec.class_names) == len(set(spec.class_names)) == 1000
    assert spec.class_names[779] == "school bus" and spec.class_names[104] == "wallaby"
    assert spec.extra["wnids"][0] == "n01440764" and not model.training
    tops = [i.name for i in ns.layers(model) if "." not in i.name]
    assert tops == ["stem", *[f"block{i}" for i in range(16)], "head", "pool", "flatten",
                    "dropout", "fc"]
    fc = next(i for i in ns.layers(model) if i.name == "fc")
    assert fc.n_units == 1000  # unit k of fc is class k


def test_every_packaged_tensor_is_used() -> None:
    fresh = efficientnet_lite0()
    loaded = ns.zoo.load("efficientnet-lite0")
    assert fresh.state_dict().keys() == loaded.state_dict().keys()
    assert sum(p.numel() for p in loaded.parameters()) == 4_652_008


def test_pretrained_has_no_recipe() -> None:
    with pytest.raises(ns.zoo.ZooModelNotFoundError, match="pretrained"):
        ns.zoo.recipe("efficientnet-lite0")
