"""Inversion (Mahendran & Vedaldi 2015) on tiny conv nets: what a first layer keeps comes back."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import neuronscope as ns
from neuronscope.core.spec import InputSpec, attach_spec
from neuronscope.methods.invert import Inversion, invert


def _net(head: bool = True) -> nn.Module:
    torch.manual_seed(1)
    parts = [nn.Conv2d(3, 12, 3, padding=1), nn.ReLU(), nn.Conv2d(12, 8, 3, stride=2,
                                                                    padding=1), nn.ReLU()]
    if head:  # a fixed-size head: 8 x 6 x 6 inputs only
        parts += [nn.Flatten(), nn.Linear(8 * 6 * 6, 5)]
    return attach_spec(nn.Sequential(*parts).eval(), InputSpec(shape=(3, 12, 12)))


def _images(n: int = 3) -> torch.Tensor:
    """Smooth random pictures in [0, 1]: blobs, as natural images are, not white noise."""
    g = torch.Generator().manual_seed(5)
    coarse = torch.rand(n, 3, 4, 4, generator=g)
    return F.interpolate(coarse, size=(12, 12), mode="bilinear", align_corners=False)


def test_the_first_layer_gives_the_image_back_and_the_distance_falls() -> None:
    x = _images()
    inv = invert(_net(), x, "0", steps=100, lr=0.02, progress=False)
    assert inv.images.shape == x.shape and inv.layer == "0"
    assert torch.equal(inv.originals, x)
    assert inv.correlation.min() > 0.9, inv.correlation
    assert inv.history.shape == (100, 3)
    assert (inv.history[-1] < 0.1 * inv.history[0]).all()
    assert torch.allclose(inv.distance, inv.history[-1], rtol=0.2, atol=1e-3)
    assert inv.images.min() >= 0 and inv.images.max() <= 1  # clamped to the value range
    deep = invert(_net(), x, "5", steps=100, progress=False)  # a linear layer of 5 values
    assert deep.correlation.mean() < inv.correlation.mean() - 0.1
    assert inv.settings["lambda_tv"] == 0.5 and deep.settings["lambda_tv"] == 50.0
    assert inv.show().size == (3 * 13 + 1, 2 * 13 + 1)


def test_deterministic_per_image_and_mode_restored() -> None:
    model, x = _net(), _images()
    model.train()
    a = invert(model, x, "2", steps=15, seed=3, progress=False)
    assert model.training and all(m.training for m in model.modules())
    b = invert(model, x, "2", steps=15, seed=3, progress=False)
    assert torch.equal(a.images, b.images) and torch.equal(a.distance, b.distance)
    first = invert(model, x[0], "2", steps=15, seed=3, progress=False)  # [C, H, W]: one image
    assert torch.allclose(first.images[0], a.images[0], atol=1e-5)  # images do not interact
    other = invert(model, x, "2", steps=15, seed=4, progress=False)
    assert not torch.equal(a.images, other.images)


def test_round_trip(tmp_path: Path) -> None:
    inv = invert(_net(), _images(2), "1", steps=5, progress=False)
    back = Inversion.load(inv.save(tmp_path / "inv.safetensors"))
    assert back.layer == inv.layer and back.settings == inv.settings
    for name in ("images", "originals", "distance", "correlation", "history"):
        assert torch.equal(getattr(back, name), getattr(inv, name))


def test_bad_input_says_what_would_be_right() -> None:
    model = _net()
    with pytest.raises(ns.NeuronscopeError, match="3x12x12"):
        invert(model, torch.rand(1, 3, 16, 16), "5", steps=1, progress=False)
    with pytest.raises(ns.NeuronscopeError, match="3x12x12"):
        invert(model, torch.rand(1, 1, 12, 12), "0", steps=1, progress=False)
    with pytest.raises(ns.LayerNotFoundError, match="conv9"):
        invert(model, _images(1), "conv9", steps=1, progress=False)
    with pytest.raises(ValueError, match="lr must be > 0"):
        invert(model, _images(1), "0", lr=0, progress=False)
    with pytest.raises(ns.NeuronscopeError, match="float tensor"):
        invert(model, torch.zeros(3, 12), "0", progress=False)
    # below the fixed-size head, another size still works
    inv = invert(model, torch.rand(1, 3, 16, 16), "0", steps=2, progress=False)
    assert inv.images.shape == (1, 3, 16, 16)


def test_a_model_without_an_input_spec_uses_the_images_scale() -> None:
    model = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1)).eval()
    x = _images(2)[:, :1] * 4 - 2  # values outside 0-1: nothing is clamped
    inv = invert(model, x, "0", steps=100, lr=0.02, progress=False)  # the first layer: TV 0.5
    assert inv.settings["value_range"] is None and inv.correlation.min() > 0.9
    assert inv.settings["lambda_tv"] == 0.5 and inv.images.min() < 0
    with pytest.raises(ns.NeuronscopeError, match="diverged.*lower lr"):
        invert(model, x, "0", steps=20, lr=0.02, lambda_tv=50, progress=False)
