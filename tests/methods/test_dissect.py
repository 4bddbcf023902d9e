"""Network dissection against ground truth: planted units get their concept, a random
unit gets none; thresholds are the exact top quantile; results round-trip."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

import neuronscope as ns
from neuronscope.core.errors import NeuronscopeError
from neuronscope.data.shapes import Shapes
from neuronscope.methods.dissect import Dissection, dissect
from neuronscope.methods.dissect.thresholds import TopQuantile


def planted() -> nn.Module:
    """Unit 0: red pixels (1 on every red pixel, 0 elsewhere); unit 1: random weights."""
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 2, 3, padding=1)
    with torch.no_grad():
        w = torch.randn(2, 3, 3, 3) * 0.05  # unit 1: random, small (never saturates) and
        conv.weight.copy_(w - w.mean((2, 3), keepdim=True))  # blind to flat colour: a
        # random filter's mean is a colour filter, and that is a colour detector here
        conv.weight[0] = 0
        conv.weight[0, :, 1, 1] = torch.tensor([1.0, -1.0, -1.0]) * 20  # the centre pixel
        conv.bias.copy_(torch.tensor([-20 * 0.45, 0.0]))
    return nn.Sequential(conv, nn.Hardtanh(0.0, 1.0)).eval()


@pytest.fixture(scope="module")
def shapes() -> Shapes:
    return Shapes("test", n=120, masks=True)


def test_a_red_unit_is_labelled_red_and_a_random_one_nothing(shapes: Shapes) -> None:
    d = dissect(planted(), shapes, "1", progress=False)
    assert d.concepts[0] == "color:red" and d.ious[0] > 0.5 and d.categories[0] == "color"
    assert d.ious[1] < d.iou_threshold and d.detectors == [0]
    assert d.thresholds[0] == 1.0  # every red pixel ties at the top


def test_thresholds_are_the_exact_top_quantile() -> None:
    g = torch.Generator().manual_seed(0)
    out = torch.randn(50, 3, 8, 8, generator=g)
    top = TopQuantile(3, 50 * 64, 0.01)
    for part in out.split(7):
        top.add(part)
    flat = out.transpose(0, 1).reshape(3, -1)
    k = 32  # ceil(0.01 * 3,200)
    assert torch.equal(top.thresholds(), flat.sort(1, descending=True).values[:, k - 1])
    assert ((flat >= top.thresholds()[:, None]).sum(1) == k).all()


def test_several_layers_in_one_call_and_a_linear_layer(shapes: Shapes) -> None:
    model = nn.Sequential(planted(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(2, 3)).eval()
    found = dissect(model, shapes, ["0.1", "3"], progress=False)
    assert sorted(found) == ["0.1", "3"] and found["0.1"].concepts[0] == "color:red"
    assert found["3"].iou.shape == (3, len(shapes.concepts))  # inputs whole


def test_round_trip_and_bad_input(shapes: Shapes, tmp_path: Path) -> None:
    d = dissect(planted(), shapes, "1", progress=False)
    back = Dissection.load(d.save(tmp_path / "d.safetensors"))
    assert back.concepts == d.concepts and torch.equal(back.iou, d.iou)
    with pytest.raises(NeuronscopeError, match="no masks"):
        dissect(planted(), Shapes("test", n=4), "1", progress=False)
    with pytest.raises(NeuronscopeError, match="empty"):
        dissect(planted(), torch.zeros(0, 3, 8, 8), "1", progress=False)
    assert ns.zoo is not None


def test_pixel_colours_make_concept_data_of_any_images() -> None:
    from neuronscope.data.colors import PixelColors

    plain = Shapes("test", n=120)  # images and labels only
    colors = PixelColors(plain)
    assert colors.concepts[8] == "color:red" and colors[0]["masks"].shape == (11, 64, 64)
    assert colors[0]["masks"].sum(0).eq(1).all()  # every pixel has exactly one name
    d = dissect(planted(), colors, "1", progress=False)
    assert d.concepts[0] == "color:red" and d.ious[0] > 0.5 and d.detectors == [0]


class Count(nn.Module):
    """Counts its calls and passes its input on."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return x


def test_a_layer_changed_in_place_after_it_is_read_before_the_change(shapes: Shapes
                                                                      ) -> None:
    conv = planted()[0]
    with torch.no_grad():
        conv.bias[1] = -5.0  # unit 1 is negative everywhere: its threshold is below 0
    after = Count()
    inplace = nn.Sequential(conv, nn.ReLU(inplace=True), nn.Conv2d(2, 2, 1), after).eval()
    d = dissect(inplace, shapes, ["0", "2"], progress=False)["0"]
    alone = dissect(nn.Sequential(conv).eval(), shapes, "0", progress=False)
    assert d.thresholds[1] < 0 and torch.equal(d.thresholds, alone.thresholds)
    assert torch.equal(d.iou, alone.iou)
    assert after.calls == 1  # only in the trace that finds the layers: the passes stop
    # after the last dissected layer


def test_a_dead_unit_is_on_nowhere_not_everywhere(shapes: Shapes) -> None:
    conv = planted()[0]
    with torch.no_grad():
        conv.bias[1] = -50.0  # unit 1 never passes the ReLU: 0 at every position
    d = dissect(nn.Sequential(conv, nn.ReLU()).eval(), shapes, "1", progress=False)
    assert d.tied == [1] and d.thresholds[1] == 0 and d.ious[1] == 0.0
    assert d.detectors == [0] and d.levels[1] > 0  # on only above 0: nowhere


class Reused(nn.Module):
    """A ReLU that writes every output into one buffer of its own (``out=``)."""

    def __init__(self) -> None:
        super().__init__()
        self.buf = torch.empty(0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.buf.shape != x.shape:
            self.buf.resize_(x.shape)
        return torch.clamp(x, min=0, out=self.buf)


class Fallback(nn.Module):
    """A forward with its own `except Exception` fallback, then a reused output buffer."""

    def __init__(self, relu: nn.Module) -> None:
        super().__init__()
        self.conv, self.relu, self.head = planted()[0], relu, nn.Conv2d(2, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        try:
            y = self.relu(self.conv(x))
        except Exception:
            y = self.relu(self.conv(x * 0))
        return self.head(y)


def test_early_stops_fallbacks_buffers_and_inference_mode(shapes: Shapes) -> None:
    plain = dissect(Fallback(nn.ReLU()).eval(), shapes, ["conv", "relu"], batch_size=16,
                    progress=False)
    reused = Fallback(Reused()).eval()
    with torch.inference_mode():
        d = dissect(reused, shapes, ["conv", "relu"], batch_size=16, progress=False)
    for name in ("conv", "relu"):  # the stop ran no fallback, the buffer was read whole
        assert torch.equal(d[name].thresholds, plain[name].thresholds)
        assert torch.equal(d[name].iou, plain[name].iou)
    with pytest.raises(ValueError, match="at least one layer"):
        dissect(plain, shapes, [], progress=False)


def test_soft_masks_are_refused() -> None:
    class Soft(torch.utils.data.Dataset):
        concepts = ["color:red"]

        def __len__(self) -> int:
            return 4

        def __getitem__(self, i: int) -> dict:
            return {"image": torch.rand(3, 8, 8), "masks": torch.full((1, 8, 8), 0.3)}

    with pytest.raises(NeuronscopeError, match="other than 0 and 1"):
        dissect(planted(), Soft(), "1", progress=False)
