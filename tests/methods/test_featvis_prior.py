"""Feature visualization with a generator as prior: images are decodings of codes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

import neuronscope as ns
from neuronscope.core.errors import NeuronscopeError
from neuronscope.methods.featvis.optimize import _seed_of
from neuronscope.methods.featvis.result import Visualization
from neuronscope.zoo.generator import ConvVAE


def tiny_gen() -> ConvVAE:
    torch.manual_seed(1)
    return ConvVAE(code_size=8, width=4, shape=(3, 16, 16)).eval().requires_grad_(False)


def tiny_model() -> nn.Module:
    torch.manual_seed(2)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3)).eval()


def test_images_are_the_decodings_of_codes_from_the_prior() -> None:
    gen, model = tiny_gen(), tiny_model()
    vis = ns.visualize(model, ["2:1", "2:3"], size=16, steps=0, prior=gen, progress=False)
    codes = torch.cat([gen.sample_codes(1, torch.Generator().manual_seed(_seed_of(0, t, 0)))
                       for t in ("2:1", "2:3")])
    assert vis.display.shape == (2, 3, 16, 16)
    assert torch.allclose(vis.display, gen.decode(codes))
    assert vis.settings["param"] == "generator" and vis.settings["code_size"] == 8
    assert vis.settings["prior_resized"] is False and vis.settings["flat_restarts"] == []


def test_activation_rises_and_the_result_round_trips(tmp_path: Path) -> None:
    gen, model = tiny_gen(), tiny_model()
    start = ns.visualize(model, "2:1", size=16, steps=0, prior=gen, progress=False)
    vis = ns.visualize(model, "2:1", size=16, steps=40, prior=gen, progress=False,
                       transforms="none", lr=0.1)
    assert vis.activations[0] > start.activations[0]
    assert vis.losses[-1, 0] < vis.losses[0, 0]
    assert 0 <= vis.display.min() and vis.display.max() <= 1
    again = ns.visualize(model, "2:1", size=16, steps=40, prior=gen, progress=False,
                         transforms="none", lr=0.1)
    assert torch.equal(again.display, vis.display)  # deterministic
    vis.save(tmp_path / "v.safetensors")
    back = Visualization.load(tmp_path / "v.safetensors")
    assert torch.equal(back.display, vis.display) and back.settings == vis.settings


def test_another_size_is_resized_and_other_channels_are_refused() -> None:
    gen, model = tiny_gen(), tiny_model()
    vis = ns.visualize(model, "2:0", size=24, steps=2, prior=gen, progress=False)
    assert vis.display.shape == (1, 3, 24, 24) and vis.settings["prior_resized"] is True
    grey = nn.Sequential(nn.Conv2d(1, 2, 3))
    with pytest.raises(NeuronscopeError, match="3-channel images but the model takes 1"):
        ns.visualize(grey, "0:0", size=16, steps=1, prior=gen, progress=False)


def test_code_penalty_init_and_bad_priors() -> None:
    gen, model = tiny_gen(), tiny_model()
    free = ns.visualize(model, "2:1", size=16, steps=20, prior=gen, progress=False, lr=0.2)
    held = ns.visualize(model, "2:1", size=16, steps=20, prior=gen, progress=False, lr=0.2,
                        code_penalty=100.0)
    assert held.settings["code_penalty"] == 100.0
    assert (held.losses[-1] - free.losses[-1]).abs().sum() > 0
    photo = torch.rand(1, 3, 16, 16)
    started = ns.visualize(model, "2:1", size=16, steps=0, prior=gen, init=photo,
                           progress=False)
    assert torch.allclose(started.display, gen.decode(gen.encode(photo)), atol=0.02)
    with pytest.raises(NeuronscopeError, match="needs an image generator"):
        ns.visualize(model, "2:1", size=16, steps=1, prior=nn.Linear(2, 2), progress=False)
    with pytest.raises(NeuronscopeError, match="parameters are codes"):
        ns.visualize(model, "2:1", size=16, steps=1, prior=gen, preset="yosinski",
                     progress=False)
    with pytest.raises(ValueError, match="needs prior="):
        ns.visualize(model, "2:1", size=16, steps=1, code_penalty=1.0, progress=False)
