"""The stimulus methods where a new user's trial found them wanting: a caller's no_grad,
a TorchScript submodule, a ReLU the rules cannot see, out-of-range pixels, loose class
numbers."""

from __future__ import annotations

import logging

import pytest
import torch
from torch import nn

import neuronscope as ns
from neuronscope.core.errors import NeuronscopeError
from neuronscope.core.spec import InputSpec, attach_spec


def net() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 1), nn.Flatten(),
                          nn.Linear(4 * 6 * 6, 3))
    return attach_spec(model.eval(), InputSpec(shape=(3, 8, 8)))


CALLS = {
    "project": lambda m, x: ns.project(m, x, "2:0"),
    "deepdream": lambda m, x: ns.deepdream(m, x[0], "2", octaves=1, steps=2, progress=False),
    "invert": lambda m, x: ns.invert(m, x, "2", steps=3, progress=False),
    "fooling_images": lambda m, x: ns.fooling_images(m, [0], budget=2, progress=False),
    "visualize": lambda m, x: ns.visualize(m, "2:0", size=8, steps=2, progress=False),
}


@pytest.mark.parametrize("name", list(CALLS))
def test_gradient_methods_work_under_a_callers_no_grad(name: str) -> None:
    x, models = torch.rand(1, 3, 8, 8), [net() for _ in range(3)]
    free = CALLS[name](models[0], x)
    with torch.no_grad():
        held = CALLS[name](models[1], x)
    with torch.inference_mode():
        inferred = CALLS[name](models[2], x)
    assert torch.is_grad_enabled()
    a, b, c = (r._encode()[0] for r in (free, held, inferred))
    assert all(torch.equal(a[k], b[k]) and torch.equal(a[k], c[k]) for k in a)


def test_a_torchscript_submodule_leaves_the_rest_addressable() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), torch.jit.script(nn.Sequential(nn.ReLU())),
                          nn.Conv2d(4, 4, 1)).eval()
    x = torch.rand(1, 3, 8, 8)
    assert [i.name for i in ns.layers(model, x)] == ["0", "2"]
    assert ns.project(model, x, "2:0", method="gradient").attribution.shape == x.shape
    with pytest.raises(NeuronscopeError, match="'1' is a RecursiveScriptModule"):
        ns.project(model, x, "2:0", method="guided")


def test_no_relu_on_the_path_is_said(caplog: pytest.LogCaptureFixture) -> None:
    class Where(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.where(x > 0, x, torch.zeros_like(x))

    model = nn.Sequential(nn.Conv2d(3, 2, 3), Where(), nn.Conv2d(2, 2, 1)).eval()
    with caplog.at_level(logging.WARNING):
        ns.project(model, torch.rand(1, 3, 8, 8), "2:0")
    assert "no ReLU on the path" in caplog.text


def test_out_of_range_pixels_and_loose_class_numbers_are_refused() -> None:
    with pytest.raises(NeuronscopeError, match="display-space values in \\[0, 1\\]"):
        ns.invert(net(), torch.rand(1, 3, 8, 8) * 255, "2", steps=2, progress=False)
    for bad in ([2.7], [True], ["x"]):
        with pytest.raises(NeuronscopeError, match="unknown class"):
            ns.fooling_images(net(), bad, budget=2, progress=False)
    assert ns.fooling_images(net(), ["1"], budget=2, progress=False).classes == [1]


def test_deepdream_names_a_linear_layer_of_a_model_without_a_spec() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 38 * 54, 5))
    with pytest.raises(NeuronscopeError, match="no spatial map"):
        ns.deepdream(model.eval(), torch.rand(3, 40, 56), "3", progress=False)
