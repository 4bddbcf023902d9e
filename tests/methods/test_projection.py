"""Deconvnet, guided-backprop and gradient projections of a unit onto its input."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import neuronscope as ns
from neuronscope.core.errors import NeuronscopeError
from neuronscope.methods.projection import METHODS, Projection, project


def test_projection_of_a_hand_made_unit() -> None:
    conv = nn.Conv2d(1, 2, 1, bias=False)
    conv.weight.data = torch.tensor([2.0, -1.0]).view(2, 1, 1, 1)
    model = nn.Sequential(conv, nn.ReLU()).eval()
    x = torch.rand(1, 1, 4, 4) + 0.1
    for method in ("guided", "deconv", "deconvnet"):
        up = project(model, x, "1:0", method=method)
        assert up.attribution.shape == x.shape and torch.allclose(up.attribution, 2 * x ** 0)
    assert project(model, x, "1:0", method="deconv").method == "deconvnet"
    down = project(model, x, "0:1", method="guided")  # the conv output: gradient -1 everywhere
    assert torch.allclose(down.attribution, -torch.ones_like(x)) and down.relus == 0
    assert down.show().size == (4 + 2, 4 + 2)  # one tile with a 1-pixel border
    assert set(METHODS) == {"guided", "deconvnet", "gradient", "deconv"}
    with pytest.raises(ValueError, match="method"):
        project(model, x, "1:0", method="lrp")
    with pytest.raises(ns.UnitOutOfRangeError, match="0-1"):
        project(model, x, "1:5")
    with pytest.raises(ns.NeuronscopeError, match="names a layer"):
        project(model, x, "1")
    with pytest.raises(ns.NeuronscopeError, match="floating-point"):
        project(model, x.long(), "1:0")


def test_three_rules_match_hand_computed_gradients() -> None:
    """Linear(3, 4) -> ReLU -> Linear(4, 1): d out / dx = W1^T (r(W2) * mask)."""
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    w1 = torch.tensor([[1.0, 2.0, 0.0], [0.0, -1.0, 1.0], [3.0, 0.0, -2.0], [1.0, 1.0, 1.0]])
    w2 = torch.tensor([[2.0, 3.0, -1.0, 0.5]])
    with torch.no_grad():
        model[0].weight.copy_(w1), model[0].bias.zero_(), model[2].weight.copy_(w2)
    x = torch.tensor([[1.0, 1.0, 1.0]])  # hidden pre-activations 3, 0, 1, 3
    mask = (x @ w1.T > 0).float()  # [1, 0, 1, 1]
    want = {"gradient": (w2 * mask) @ w1, "guided": (w2.clamp(min=0) * mask) @ w1,
            "deconvnet": w2.clamp(min=0) @ w1}
    assert len({tuple(w.flatten().tolist()) for w in want.values()}) == 3  # all differ
    for method, expected in want.items():
        assert torch.allclose(project(model, x, "2:0", method=method).attribution, expected)


def test_a_position_selects_one_neuron() -> None:
    conv = nn.Conv2d(1, 2, 3, bias=False)
    model = nn.Sequential(conv)
    x = torch.rand(1, 1, 6, 6)
    got = project(model, x, "0:1@2,3", method="gradient").attribution[0, 0]
    want = torch.zeros(6, 6)
    want[2:5, 3:6] = conv.weight[1, 0].detach()  # the kernel under output (2, 3)
    assert torch.allclose(got, want)


class Net(nn.Module):
    """conv -> relu -> residual conv block -> relu -> max pool -> 1x1 conv, its ReLUs
    written as modules, as functions, or as in-place modules inside the block."""

    def __init__(self, style: str) -> None:
        super().__init__()
        self.style = style
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.pool, self.conv3 = nn.MaxPool2d(2), nn.Conv2d(4, 3, 1)
        self.r1, self.r2 = (nn.ReLU(inplace=style == "inplace") for _ in range(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.style == "functional":
            y = F.relu(self.conv1(x))
            y = torch.relu(self.conv2(y) + y)
        elif self.style == "inplace":  # as torchvision's ResNet blocks
            y = self.r1(self.conv1(x))
            out = self.conv2(y)
            out += y
            y = self.r2(out)
        else:
            y = self.r1(self.conv1(x))
            y = self.r2(self.conv2(y) + y)
        return self.conv3(self.pool(y))


class Head(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x).sum((2, 3))  # each channel summed over positions


def _captum(model: nn.Module, x: torch.Tensor, channel: int) -> torch.Tensor:
    from captum.attr import GuidedBackprop

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GuidedBackprop(Head(model)).attribute(x.clone().requires_grad_(True),
                                                     target=channel).detach()


def test_guided_rewrites_every_relu_however_written() -> None:
    nets = {style: Net(style) for style in ("modules", "functional", "inplace")}
    for net in nets.values():
        net.load_state_dict(nets["modules"].state_dict())
    x = torch.randn(2, 3, 8, 8)
    reference = _captum(nets["modules"], x, 1)
    plain = project(nets["modules"], x, "conv3:1", method="gradient").attribution
    assert not torch.allclose(reference, plain, atol=1e-3)  # guided is not the gradient here
    for style, net in nets.items():
        p = project(net, x, "conv3:1", method="guided")
        assert torch.allclose(p.attribution, reference, atol=1e-6), style
        assert p.relus >= 2 and p.others == {}
    # Captum rewrites only nn.ReLU modules: on F.relu it silently gives the gradient
    captum_functional = _captum(nets["functional"], x, 1)
    assert torch.allclose(captum_functional, plain, atol=1e-6)
    assert not torch.allclose(captum_functional, reference, atol=1e-3)


def test_max_pool_passes_the_signal_through_its_switches() -> None:
    model = nn.Sequential(nn.ReLU(), nn.MaxPool2d(2))
    x = torch.rand(2, 3, 4, 4) + 0.1
    _, switches = F.max_pool2d(x, 2, return_indices=True)
    want = torch.zeros(2, 3, 16).scatter_(2, switches.flatten(2), 1.0)
    want[:, [0, 2]] = 0  # only channel 1 is the unit
    for method in ("guided", "deconvnet", "gradient"):
        got = project(model, x, "1:1", method=method).attribution
        assert torch.equal(got, want.view_as(x)), method


def _relu(x: torch.Tensor) -> torch.Tensor:
    return torch.relu(x)


with warnings.catch_warnings():  # torch.jit.script is deprecated: still in use
    warnings.simplefilter("ignore")
    _scripted_relu = torch.jit.script(_relu)


class ScriptedInside(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(3, 4), nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(_scripted_relu(self.fc1(x)))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_relus_out_of_reach_are_refused_clearly() -> None:
    x = torch.randn(2, 3)
    model = nn.Sequential(nn.Linear(3, 4), torch.jit.script(nn.ReLU()), nn.Linear(4, 1))
    with pytest.raises(NeuronscopeError, match="submodule '1' is a RecursiveScriptModule"):
        project(model, x, "2:0", method="guided")
    with pytest.raises(NeuronscopeError, match="method='gradient'"):
        project(model, x, "2:0", method="deconvnet")
    inside = ScriptedInside()  # a TorchScript function called from a Python forward
    for _ in range(3):  # first a plain ReLU node, then a fused graph: both are caught
        with pytest.raises(NeuronscopeError, match="cannot reach"):
            project(inside, x, "fc2:0", method="guided")
    assert project(inside, x, "fc2:0", method="gradient").attribution.shape == x.shape


def test_leaky_relu_is_not_a_relu(caplog: pytest.LogCaptureFixture) -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.LeakyReLU(0.1), nn.Linear(4, 1))
    x = torch.randn(2, 3)
    guided = project(model, x, "2:0", method="guided")
    assert guided.relus == 0 and guided.others == {"LeakyRelu": 1}
    plain = project(model, x, "2:0", method="gradient")
    assert torch.equal(guided.attribution, plain.attribution)
    assert "LeakyRelu x1" in caplog.text


def test_round_trip_and_determinism(tmp_path: Path) -> None:
    model = Net("inplace")
    x = torch.randn(1, 3, 8, 8)
    first = project(model.train(), x, "conv3:2@1,1", method="deconvnet")
    assert model.training and all(m.training for m in model.modules())  # mode restored
    again = project(model, x, "conv3:2@1,1", method="deconvnet")
    assert torch.equal(first.attribution, again.attribution)  # deterministic
    back = Projection.load(first.save(tmp_path / "p.safetensors"))
    assert (back.unit, back.method, back.relus, back.others) == ("conv3:2@1,1", "deconvnet",
                                                                 first.relus, {})
    assert torch.equal(back.attribution, first.attribution)
