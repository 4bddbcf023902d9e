"""The ReLU rules mode: every way of writing a ReLU takes the rule; nothing else does."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from neuronscope.core.errors import NeuronscopeError
from neuronscope.core.relu_rules import ReluRules, inspect_path, refuse_scripted

X = torch.tensor([-2.0, -0.5, 0.5, 3.0, 7.0])
G = torch.tensor([1.0, -1.0, -2.0, 3.0, 4.0])  # the gradient arriving at the output
# ReLU: guided keeps positive grads where x > 0; deconvnet every positive grad
GUIDED = torch.tensor([0.0, 0.0, 0.0, 3.0, 4.0])
DECONV = torch.tensor([1.0, 0.0, 0.0, 3.0, 4.0])

RELUS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "F.relu": F.relu,
    "F.relu inplace": lambda t: F.relu(t, inplace=True),
    "torch.relu": torch.relu,
    "torch.relu_": torch.relu_,
    "Tensor.relu": lambda t: t.relu(),
    "Tensor.relu_": lambda t: t.relu_(),
    "nn.ReLU": nn.ReLU(),
    "nn.ReLU inplace": nn.ReLU(inplace=True),
    "clamp min=0": lambda t: torch.clamp(t, min=0),
    "Tensor.clamp(0)": lambda t: t.clamp(0),
    "Tensor.clamp_(min=0)": lambda t: t.clamp_(min=0),
    "clip": lambda t: t.clip(0),
    "clamp_min": lambda t: torch.clamp_min(t, 0),
    "Tensor.clamp_min_": lambda t: t.clamp_min_(0.0),
    "threshold": lambda t: F.threshold(t, 0.0, 0.0),
    "leaky slope 0": lambda t: F.leaky_relu(t, 0.0),
}


def _grad(fn: Callable, rule: str | None) -> tuple[torch.Tensor, torch.Tensor, int]:
    x = X.clone().requires_grad_(True)
    mode = ReluRules(rule) if rule else None
    with mode if mode else torch.enable_grad():
        y = fn(x * 1.0)  # a non-leaf, so that in-place forms may run
    y.backward(G)
    return y.detach(), x.grad, mode.rewritten if mode else 0


@pytest.mark.parametrize("name", list(RELUS))
def test_every_way_of_writing_a_relu_takes_the_rule(name: str) -> None:
    fn = RELUS[name]
    y, plain, _ = _grad(fn, None)
    assert torch.equal(y, X.relu())
    for rule, want in (("guided", GUIDED), ("deconvnet", DECONV)):
        y_rule, grad, rewritten = _grad(fn, rule)
        assert torch.equal(y_rule, y), name  # the forward is the op's own
        assert torch.equal(grad, want) and rewritten == 1, (name, rule, grad)


def test_capped_relus_mask_the_cap_too() -> None:
    for fn in (F.relu6, nn.ReLU6(inplace=True), lambda t: F.hardtanh(t, 0.0, 6.0),
               lambda t: t.clamp(0, 6)):
        y, grad, n = _grad(fn, "guided")
        assert torch.equal(y, X.clamp(0, 6)) and n == 1
        assert grad.tolist() == [0.0, 0.0, 0.0, 3.0, 0.0]  # 7 > 6: no gradient
        assert _grad(fn, "deconvnet")[1].tolist() == DECONV.tolist()


def test_other_ops_keep_their_gradient_and_are_reported() -> None:
    for fn in (lambda t: F.leaky_relu(t, 0.1), lambda t: t.clamp(min=0.5),
               lambda t: t.clamp(min=torch.zeros(5)), lambda t: F.hardtanh(t), F.gelu):
        x = X.clone().requires_grad_(True)
        with ReluRules("guided") as mode:
            y = fn(x * 1.0)
        report = inspect_path(y.sum())
        assert report.rewritten == report.plain == 0 and report.others, report
        y.backward(G)
        plain = X.clone().requires_grad_(True)
        fn(plain * 1.0).backward(G)
        want = plain.grad
        assert mode.rewritten == 0 and torch.equal(x.grad, want)


def test_the_path_report_counts_rewritten_plain_and_other_ops() -> None:
    x = torch.ones(3, requires_grad=True)
    with ReluRules("deconvnet"):
        ruled = F.relu(x) + torch.sigmoid(x)
    plain = F.relu(ruled)  # outside the block
    report = inspect_path(plain.sum())
    assert (report.rewritten, report.plain, report.others) == (1, 1, {"Sigmoid": 1})
    with torch.no_grad(), ReluRules("guided") as mode:
        F.relu(x)
    assert mode.rewritten == 0  # nothing to rewrite without gradients


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_scripted_modules_are_named() -> None:
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(torch.jit.script(nn.ReLU())))
    with pytest.raises(NeuronscopeError, match=r"'1\.0' is a RecursiveScriptModule.*gradient"):
        refuse_scripted(model, "guided backprop")
    refuse_scripted(nn.Sequential(nn.ReLU()), "guided backprop")  # plain Python: fine
    with pytest.raises(ValueError, match="rule must be one of"):
        ReluRules("lrp")
