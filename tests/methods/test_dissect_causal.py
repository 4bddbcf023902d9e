"""Network dissection's ground truth on a planted network: a red unit, a circle-interior
unit and a random unit; the causal check of their labels; the null baselines; the
streaming threshold estimate; bad concept data."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
import torch
from scipy import ndimage
from torch import nn

from neuronscope.core.errors import NeuronscopeError
from neuronscope.core.spec import InputSpec, attach_spec
from neuronscope.data._scenes import SHAPES
from neuronscope.data.shapes import Shapes
from neuronscope.methods.dissect import dissect
from neuronscope.methods.dissect.thresholds import TopQuantile

from .test_dissect import planted


def circle_interiors(images: torch.Tensor) -> torch.Tensor:
    """[B, 1, H, W]: 1 on every region of one flat colour that fills its circumscribed
    circle (area / (pi r^2) > 0.8, r from the region's centroid): a disk, not a square
    (0.64), a ring, a star or a stripe of the background."""
    out = np.zeros((len(images), 1, *images.shape[-2:]), np.float32)
    rgb = (images.detach().cpu().numpy() * 255).round().astype(np.int64)
    for b, a in enumerate(rgb):
        code = a[0] * 65536 + a[1] * 256 + a[2]
        for c in np.unique(code):
            regions, n = ndimage.label(code == c)
            for k in range(1, n + 1):
                ys, xs = np.nonzero(regions == k)
                if len(ys) < 30:
                    continue
                r = np.sqrt(((ys - ys.mean()) ** 2 + (xs - xs.mean()) ** 2).max()) + 0.5
                if len(ys) / (math.pi * r * r) > 0.8:
                    out[b, 0, ys, xs] = 1.0
    return torch.from_numpy(out)


class Planted(nn.Module):
    """`units` holds three units: 0 fires on red pixels, 1 on circles' interiors, 2 has
    random weights. The classes are the shapes' and "red": the circle class's logit reads
    unit 1, red's reads unit 0, and every logit reads unit 2 (the random unit feeds the
    evidence of every concept) with a random weight."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = planted()[0]
        self.units = nn.Identity()
        self.head = nn.Linear(3, len(SHAPES) + 1)
        with torch.no_grad():
            self.head.weight.zero_()
            self.head.bias.zero_()
            self.head.weight[len(SHAPES), 0] = 20.0              # red
            self.head.weight[SHAPES.index("circle"), 1] = 20.0
            self.head.weight[:, 2] = torch.randn(len(SHAPES) + 1) * 20
        attach_spec(self, InputSpec(shape=(3, 64, 64), kind="image",
                                    class_names=[*SHAPES, "red"]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.conv(x).clamp(0, 1)
        u = self.units(torch.cat([a[:, :1], circle_interiors(x), a[:, 1:]], 1))
        return self.head(u.mean((2, 3)))


@pytest.fixture(scope="module")
def shapes() -> Shapes:
    return Shapes("test", n=160, masks=True)


@pytest.fixture(scope="module")
def checked(shapes: Shapes):
    torch.manual_seed(0)
    model = Planted().eval()
    return model, dissect(model, shapes, "units", causal=True, progress=False)


def test_planted_units_get_their_concepts_and_the_random_one_none(checked) -> None:
    _, d = checked
    assert d.concepts[:2] == ["color:red", "shape:circle"] and min(d.ious[:2]) > 0.5
    assert d.ious[2] < d.iou_threshold and d.detectors == [0, 1]


def test_the_causal_check_scores_planted_units_high_and_the_random_one_near_zero(
        shapes: Shapes, checked) -> None:
    from neuronscope.methods.dissect import faithfulness

    model, d = checked
    assert d.faithfulness[0] > 0.8 and d.faithfulness[1] > 0.8  # they carry the evidence
    assert d.confirmed == [0, 1] and math.isnan(d.faithfulness[2])  # not a detector
    for own, concept in enumerate(["color:red", "shape:circle"]):  # every unit against
        every = faithfulness(model, shapes, d, units="all", progress=False,
                             against=dict.fromkeys(range(3), concept))  # each concept
        assert every.faithfulness[own] > 0.8 and every.causal_z[own] > 3
        assert every.faithfulness[1 - own].abs() < 0.05  # the other planted unit
        assert every.faithfulness[2].abs() < 0.1 and every.causal_z[2].abs() < 3  # random


def test_null_baselines_lose_the_labels(shapes: Shapes, checked) -> None:
    model, d = checked
    shuffled = dissect(model, shapes, "units", control="shuffled masks", progress=False)
    assert shuffled.control == "shuffled masks" and max(shuffled.ious) < 0.25
    turned = dissect(model, shapes, "units", control="rotation", progress=False)
    assert turned.control == "rotation" and max(turned.ious) < max(d.ious)
    with pytest.raises(ValueError, match="control"):
        dissect(model, shapes, "units", control="spin", progress=False)


def test_the_sampled_threshold_is_close_to_the_exact_quantile() -> None:
    g = torch.Generator().manual_seed(1)
    out = torch.randn(400, 2, 16, 16, generator=g).exp()  # skewed, like activations
    exact, sampled = TopQuantile(2, 400 * 256, 0.005), TopQuantile(2, 400 * 256, 0.005, most=100)
    for part in out.split(32):
        exact.add(part)
        sampled.add(part)
    assert exact.rate == 1.0 and 0 < sampled.rate < 0.25 and sampled.top.shape[1] == 100
    flat = out.transpose(0, 1).reshape(2, -1)
    share = (flat >= sampled.thresholds()[:, None]).float().mean(1)  # its real quantile
    assert ((share - 0.005).abs() < 0.005 * 0.35).all()  # 100 samples: rank within ~10%


class Items(torch.utils.data.Dataset):
    def __init__(self, masks: list[torch.Tensor], concepts: list[str]) -> None:
        self.masks, self.concepts = masks, concepts

    def __len__(self) -> int:
        return len(self.masks)

    def __getitem__(self, i: int) -> dict:
        return {"image": torch.rand(3, 16, 16), "masks": self.masks[i]}


def test_bad_concept_data_is_refused_or_documented(caplog) -> None:
    model = nn.Sequential(nn.Conv2d(3, 2, 3, padding=1)).eval()
    full = torch.ones(2, 16, 16, dtype=torch.bool)
    with pytest.raises(NeuronscopeError, match="do not fit images of 16x16"):
        dissect(model, Items([full[:, :8]] * 3, ["a", "b"]), "0", progress=False)
    with pytest.raises(NeuronscopeError, match="differ in size"):
        dissect(model, Items([full, full[:, :8, :8]], ["a", "b"]), "0", progress=False)
    with pytest.raises(NeuronscopeError, match="2 concepts .* 1 masks"):
        dissect(model, Items([full[:1]] * 2, ["a", "b"]), "0", progress=False)
    half = full.clone()
    half[1] = False  # concept "b" never appears: documented, IoU 0, named in the log
    with caplog.at_level(logging.WARNING):
        d = dissect(model, Items([half] * 3, ["x:a", "x:b"]), "0", progress=False)
    assert d.absent == ["x:b"] and (d.iou[:, 1] == 0).all() and "x:b" in caplog.text
    assert "rests on very few inputs" in caplog.text  # 3 inputs of 16x16: 2 positions
    with pytest.raises(ValueError, match="iou_threshold"):
        dissect(model, Items([half] * 3, ["x:a", "x:b"]), "0", iou_threshold=2, progress=False)
    with pytest.raises(NeuronscopeError, match="no concept has a pixel"):
        dissect(model, Items([~full] * 2, ["a", "b"]), "0", progress=False)
    small = dissect(model, Items([full[:, ::2, ::2]] * 2, ["a", "b"]), "0", progress=False)
    assert small.coverage.tolist() == [1.0, 1.0]  # masks at half size are fine
