"""DeepDream: the image pyramid at the photo's own size, the objective it raises, and the
refusals of inputs it cannot dream."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from torch import nn

import neuronscope as ns
from neuronscope.core.spec import InputSpec, attach_spec
from neuronscope.data.photos import photo
from neuronscope.methods.deepdream import Dream, deepdream


def tiny_cnn() -> nn.Module:
    """Two conv stages, then a linear head made for 16x16 inputs; normalized inputs."""
    torch.manual_seed(0)
    net = nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(3, 6, 3, padding=1)), ("relu1", nn.ReLU()),
        ("pool1", nn.MaxPool2d(2)), ("conv2", nn.Conv2d(6, 8, 3, padding=1)),
        ("relu2", nn.ReLU()), ("flatten", nn.Flatten()), ("fc", nn.Linear(8 * 8 * 8, 3)),
    ])).eval()
    return attach_spec(net, InputSpec(shape=(3, 16, 16), mean=(0.5, 0.4, 0.3),
                                      std=(0.2, 0.25, 0.3)))


@pytest.fixture(scope="module")
def cat() -> torch.Tensor:
    return photo("chelsea", size=(40, 56))


def test_a_dream_keeps_the_photos_size_and_raises_the_objective_at_every_octave(
        cat: torch.Tensor) -> None:
    model = tiny_cnn()
    dream = deepdream(model, cat, "relu2", octaves=3, steps=4, progress=False)
    assert dream.images.shape == (1, 3, 40, 56)  # not the model's 16x16: fully convolutional
    assert torch.equal(dream.source[0], cat)
    assert dream.sizes == [[20, 29], [29, 40], [40, 56]]
    assert dream.images.min() >= 0 and dream.images.max() <= 1
    assert (dream.reached > dream.start).all()  # every octave raised the objective
    assert dream.reached[-1, 0] > dream.start[0, 0]
    assert (dream.images - dream.source).abs().mean() > 0.01  # it changed the picture
    unit = deepdream(model, cat, "relu2:3", octaves=2, steps=3, progress=False)
    assert unit.target == "relu2:3" and unit.settings["objective"] == "channel mean"
    assert (unit.reached > unit.start).all()


def test_deterministic_and_one_image_does_not_depend_on_its_batch(cat: torch.Tensor) -> None:
    model = tiny_cnn()
    other = torch.rand(3, 40, 56, generator=torch.Generator().manual_seed(1))
    opts = {"octaves": 2, "steps": 3, "progress": False}
    one = deepdream(model, cat, "conv2", seed=3, **opts)
    assert torch.equal(one.images, deepdream(model, cat, "conv2", seed=3, **opts).images)
    assert not torch.equal(one.images, deepdream(model, cat, "conv2", seed=4, **opts).images)
    both = deepdream(model, torch.stack([cat, other]), "conv2", seed=3, **opts)
    assert both.images.shape == (2, 3, 40, 56) and both.reached.shape == (2, 2)
    assert torch.allclose(both.images[0], one.images[0], atol=1e-5)


def test_a_dream_round_trips_through_a_file(cat: torch.Tensor, tmp_path: Path) -> None:
    dream = deepdream(tiny_cnn(), cat, "conv1:2", octaves=2, steps=2, progress=False)
    back = Dream.load(dream.save(tmp_path / "dream.safetensors"))
    assert back.target == dream.target and back.sizes == dream.sizes
    assert back.settings == dream.settings
    for name in ("images", "source", "start", "reached"):
        assert torch.equal(getattr(back, name), getattr(dream, name))
    width, height = back.show().size  # the source above the dream, a border around each
    assert 56 <= width < 60 and 80 <= height < 86


def test_the_models_mode_is_restored_and_it_gets_no_gradients(cat: torch.Tensor) -> None:
    model = tiny_cnn().train()
    deepdream(model, cat, "conv2", octaves=1, steps=2, progress=False)
    assert all(m.training for m in model.modules())
    assert all(p.grad is None for p in model.parameters())


def test_bad_input_is_refused_with_what_would_be_right(cat: torch.Tensor) -> None:
    model = tiny_cnn()
    with pytest.raises(ns.NeuronscopeError, match="fc .*no spatial map.*conv"):
        deepdream(model, cat, "fc", progress=False)
    with pytest.raises(ns.NeuronscopeError, match="no spatial map"):
        deepdream(model, cat[:, :16, :16], "fc:1", progress=False)
    plain = nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten(), nn.Linear(2 * 6 * 6, 4))
    with pytest.raises(ns.NeuronscopeError, match="no spatial map"):  # no InputSpec
        deepdream(plain, torch.rand(3, 8, 8), "2", octaves=1, progress=False)
    with pytest.raises(ns.NeuronscopeError, match="1 channels; the model takes 3"):
        deepdream(model, cat[:1], "conv2", progress=False)
    with pytest.raises(ns.NeuronscopeError, match="divide by 255"):
        deepdream(model, cat * 255, "conv2", progress=False)
    with pytest.raises(ns.LayerNotFoundError, match="conv2"):
        deepdream(model, cat, "conv9", progress=False)
    with pytest.raises(ns.UnitOutOfRangeError):
        deepdream(model, cat, "conv2:99", progress=False)
    with pytest.raises(ns.NeuronscopeError, match="conv2:1"):
        deepdream(model, cat, "conv2:1@2,2", progress=False)
    with pytest.raises(ValueError, match="octaves"):
        deepdream(model, cat, "conv2", octaves=0, progress=False)
    with pytest.raises(ValueError, match="octave_scale"):
        deepdream(model, cat, "conv2", octave_scale=1.0, progress=False)
    with pytest.raises(ns.NeuronscopeError, match="fewer octaves"):  # 2x2 at the smallest
        deepdream(model, cat[:, :8, :8], "conv2", octaves=4, octave_scale=2.0, progress=False)
