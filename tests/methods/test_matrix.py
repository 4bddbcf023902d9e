"""Every public method through the same checks, as Captum tests its algorithms: one
table of methods, three small models (a plain CNN; a residual net with in-place ReLUs,
an in-place residual add and a module called twice; a model with a dict output).

For each pair: the hooks on every module are exactly as before (also when the call
raises midway), every module's train/eval mode is restored, the same seed gives the
same result, and the result round-trips through save/load.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

import neuronscope as ns
from neuronscope.core.spec import InputSpec, attach_spec

SPEC = InputSpec(shape=(3, 16, 16), class_names=["a", "b", "c"])


def plain() -> nn.Module:
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(3, 4, 3, padding=1)), ("relu1", nn.ReLU()),
        ("pool", nn.MaxPool2d(2)), ("conv2", nn.Conv2d(4, 5, 3, padding=1)),
        ("relu2", nn.ReLU()), ("flatten", nn.Flatten()), ("fc", nn.Linear(5 * 8 * 8, 3)),
    ]))


class Block(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c)
        self.relu = nn.ReLU(inplace=True)
        self.conv2, self.bn2 = nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        out += x  # in place, on the output of bn2
        return self.relu(out)


class Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem, self.relu = nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(inplace=True)
        self.block = Block(4)
        self.shared = nn.Conv2d(4, 4, 1)  # called twice
        self.pool, self.drop, self.fc = nn.AdaptiveAvgPool2d(1), nn.Dropout(0.5), nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block(self.relu(self.stem(x)))
        x = self.shared(torch.relu(self.shared(x)))
        return self.fc(self.drop(torch.flatten(self.pool(x), 1)))


class DictOut(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.head = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.relu(self.conv(x)).mean((2, 3))
        return {"features": features, "logits": self.head(features)}


MODELS: dict[str, tuple[Callable[[], nn.Module], str]] = {  # model, layer the methods study
    "plain": (plain, "conv2"),
    "residual": (Residual, "block.bn2"),
    "dict": (DictOut, "relu"),
}


@dataclass
class Method:
    name: str
    call: Callable[[nn.Module, Any, str], Any]


def data() -> TensorDataset:
    g = torch.Generator().manual_seed(1)
    return TensorDataset(torch.rand(24, 3, 16, 16, generator=g), torch.arange(24) % 3)


def first(d: TensorDataset, n: int = 2) -> torch.Tensor:
    return d.tensors[0][:n]


def lca(m: nn.Module, d: TensorDataset, layer: str) -> ns.LCAResult:
    """Two SGD steps with loss change allocation, then the weights put back."""
    from neuronscope.core.model import logits_of

    def loss(model: nn.Module, batch: Any) -> torch.Tensor:
        return nn.functional.cross_entropy(logits_of(model(batch[0])), batch[1])

    saved = {k: v.clone() for k, v in m.state_dict().items()}
    batches = [(d.tensors[0][i:i + 8], d.tensors[1][i:i + 8]) for i in (0, 8)]
    tracker = ns.LCA(m, loss, batches)
    opt = tracker.wrap(torch.optim.SGD(m.parameters(), lr=0.01))
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)  # the training's own dropout
            for batch in batches:
                opt.zero_grad()
                loss(m, batch).backward()
                opt.step()
        return tracker.result()
    finally:
        tracker.unwrap()
        m.load_state_dict(saved)


METHODS = [
    Method("top_examples", lambda m, d, layer: ns.top_examples(m, d, [layer], k=2,
                                                               batch_size=8, progress=False)),
    Method("visualize", lambda m, d, layer: ns.visualize(m, [f"{layer}:0", f"{layer}:1"],
                                                         steps=2, n_starts=2, progress=False)),
    Method("ablation_study", lambda m, d, layer: ns.ablation_study(
        m, d, layer, fractions=3, repeats=2, noise_scales=(0.0, 1.0), batch_size=8,
        progress=False)),
    Method("unit_sweep", lambda m, d, layer: ns.unit_sweep(m, d, layer, value="mean",
                                                           batch_size=8, progress=False)),
    Method("class_selectivity", lambda m, d, layer: ns.class_selectivity(
        m, d, layer, batch_size=8, progress=False)),
    Method("project", lambda m, d, layer: ns.project(m, first(d), f"{layer}:1")),
    Method("deepdream", lambda m, d, layer: ns.deepdream(
        m, d.tensors[0][0, :, :12, :14], layer, octaves=2, steps=2, progress=False)),
    Method("invert", lambda m, d, layer: ns.invert(m, first(d), layer, steps=3, progress=False)),
    Method("evolve", lambda m, d, layer: ns.evolve(ns.unit_scorer(m, f"{layer}:1"),
                                                   shape=(3, 16, 16), budget=40, progress=False)),
    Method("fooling_images", lambda m, d, layer: ns.fooling_images(m, [0, 2], budget=3,
                                                                   progress=False)),
    Method("fooling_evolution", lambda m, d, layer: ns.fooling_images(
        m, [1], method="evolution", budget=40, progress=False)),
    Method("lca", lca),
    Method("receptive_field", lambda m, d, layer: ns.receptive_field(m, layer, first(d, 1))),
    Method("dissect", lambda m, d, layer: ns.dissect(m, ns.datasets.load(
        "shapes", n=12, masks=True, size=16), layer, batch_size=8, progress=False)),
]


def make(name: str) -> tuple[nn.Module, str]:
    build, layer = MODELS[name]
    torch.manual_seed(0)
    model = attach_spec(build(), SPEC)
    model.train()  # a mixed state that every method must leave as it found it
    for i, module in enumerate(model.modules()):
        if i % 3 == 1:
            module.eval()
    return model, layer


def hooks(model: nn.Module) -> list[tuple[str, str, list[tuple[int, Any]]]]:
    out = []
    for name, module in model.named_modules():
        for kind in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks",
                     "_backward_pre_hooks", "_forward_hooks_with_kwargs",
                     "_forward_pre_hooks_with_kwargs", "_forward_hooks_always_called"):
            table = getattr(module, kind, {})
            out.append((name, kind, list(table.items())))
    glob = torch.nn.modules.module
    out.append(("", "global", [len(glob._global_forward_hooks),
                               len(glob._global_forward_pre_hooks),
                               len(glob._global_backward_hooks)]))
    return out


def modes(model: nn.Module) -> list[bool]:
    return [m.training for m in model.modules()]


def parts(result: Any) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    return result._encode()


def same(a: Any, b: Any) -> bool:
    (ta, ma), (tb, mb) = parts(a), parts(b)
    return (ta.keys() == tb.keys() and ma.keys() == mb.keys()
            and all(torch.equal(ta[k].nan_to_num(7.5), tb[k].nan_to_num(7.5)) for k in ta)
            and _plain(ma) == _plain(mb))


def _plain(meta: dict[str, Any]) -> Any:
    """Meta without run times, with NaN made comparable."""
    import json

    text = json.dumps(meta, sort_keys=True, default=str)
    cleaned = json.loads(text.replace("NaN", "null"))
    cleaned.get("fields", {}).get("settings", {}).pop("loop_seconds", None)
    return cleaned


CASES = [(m.name, model) for m in METHODS for model in MODELS]


@pytest.mark.parametrize(("method", "model_name"), CASES)
def test_method_leaves_the_model_as_it_was_and_repeats_itself(
        method: str, model_name: str, tmp_path: Path) -> None:
    call = next(m.call for m in METHODS if m.name == method)
    model, layer = make(model_name)
    user = model.register_forward_hook(lambda mod, inp, out: None)  # the user's own hook
    before_hooks, before_modes = hooks(model), modes(model)
    d = data()
    first_result = call(model, d, layer)
    assert hooks(model) == before_hooks and modes(model) == before_modes
    again = call(model, d, layer)
    assert same(first_result, again), f"{method} is not deterministic on {model_name}"
    path = first_result.save(tmp_path / "result.safetensors")
    loaded = type(first_result).load(path)
    assert same(first_result, loaded) and type(loaded) is type(first_result)
    user.remove()


class Stop(Exception):
    """Raised by the user's hook in the middle of a method."""


@pytest.mark.parametrize(("method", "model_name"), CASES)
def test_hooks_and_modes_survive_an_error_midway(method: str, model_name: str) -> None:
    call = next(m.call for m in METHODS if m.name == method)
    model, layer = make(model_name)
    calls = {"n": 0}
    counter = model.register_forward_pre_hook(lambda mod, inp: calls.update(n=calls["n"] + 1))
    call(model, data(), layer)
    counter.remove()
    total = calls["n"]
    assert total >= 1
    for stop_at in sorted({1, (total + 1) // 2, total}):
        seen = {"n": 0}

        def stop(mod: nn.Module, inp: Any, stop_at: int = stop_at, seen: dict = seen) -> None:
            seen["n"] += 1
            if seen["n"] == stop_at:
                raise Stop(f"stopped at forward pass {stop_at}")

        handle = model.register_forward_pre_hook(stop)
        before_hooks, before_modes = hooks(model), modes(model)
        with pytest.raises(Exception) as info:  # noqa: B017,PT011 - whatever wraps it
            call(model, data(), layer)
        assert "stopped at forward pass" in str(info.value) or isinstance(info.value, Stop)
        assert hooks(model) == before_hooks, f"hooks left after a stop at pass {stop_at}"
        assert modes(model) == before_modes
        handle.remove()


LAYER_METHODS = ["top_examples", "ablation_study", "unit_sweep", "class_selectivity", "invert"]


@pytest.mark.parametrize("method", LAYER_METHODS)
def test_a_unit_or_a_shared_module_is_refused_where_a_layer_is_asked_for(method: str) -> None:
    """Not silently the whole layer for a unit address, not the calls of a shared module
    mixed together."""
    call = next(m.call for m in METHODS if m.name == method)
    model, _ = make("residual")
    with pytest.raises(ns.AddressError, match="names a unit"):
        call(model, data(), "block.bn2:1")
    with pytest.raises(ns.AmbiguousCallError, match="runs 2 times"):
        call(model, data(), "shared")


def test_visualize_refuses_a_shared_module() -> None:
    model, _ = make("residual")
    with pytest.raises(ns.AmbiguousCallError, match="runs 2 times"):
        ns.visualize(model, "shared:1", steps=1, progress=False)


@pytest.mark.parametrize("method", ["visualize", "ablation_study"])
def test_another_seed_gives_another_result(method: str) -> None:
    model, layer = make("plain")
    d = data()
    if method == "visualize":
        a, b = (ns.visualize(model, f"{layer}:1", steps=2, seed=s, progress=False) for s in (0, 1))
        assert not torch.equal(a.images, b.images)
    else:
        a, b = (ns.ablation_study(model, d, layer, fractions=3, repeats=2, seed=s,
                                  noise_scales=(1.0,), progress=False) for s in (0, 1))
        assert not torch.equal(a.curves["random"], b.curves["random"]) or \
            not torch.equal(a.noise, b.noise)
