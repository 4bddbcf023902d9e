"""Deconvnet and guided-backprop projections of a unit onto its input."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import neuronscope as ns
from neuronscope.methods.projection import project


def test_projection_of_a_hand_made_unit() -> None:
    conv = nn.Conv2d(1, 2, 1, bias=False)
    conv.weight.data = torch.tensor([2.0, -1.0]).view(2, 1, 1, 1)
    model = nn.Sequential(conv, nn.ReLU()).eval()
    x = torch.rand(1, 1, 4, 4) + 0.1
    for method in ("guided", "deconv"):
        up = project(model, x, "1:0", method=method).attribution
        assert up.shape == x.shape and torch.allclose(up, torch.full_like(x, 2.0))
    down = project(model, x, "0:1", method="guided")  # the conv output: gradient -1 everywhere
    assert torch.allclose(down.attribution, -torch.ones_like(x))
    assert down.show().size == (4 + 2, 4 + 2)  # one tile with a 1-pixel border
    with pytest.raises(ValueError, match="method"):
        project(model, x, "1:0", method="lrp")
    with pytest.raises(ns.UnitOutOfRangeError, match="0-1"):
        project(model, x, "1:5")
