"""Tests of the overview page: layers, receptive fields and weight images of a model."""

from __future__ import annotations

import re
from pathlib import Path

import torch
from PIL import Image
from torch import nn

from neuronscope.atlas.overview import write_overview
from neuronscope.core.spec import InputSpec, attach_spec
from neuronscope.zoo.recipes import digits_mlp

from ..core.models import ResNet


def test_mlp_overview_shows_templates_and_classifier(tmp_path: Path) -> None:
    model = attach_spec(digits_mlp(10), InputSpec(shape=(1, 8, 8), class_names=list("0123456789")))
    model.zoo_metrics = {"test_accuracy": 0.975}
    index = write_overview(model, tmp_path, title="digits <mlp>")
    page = index.read_text()
    assert "<h1>digits &lt;mlp&gt;</h1>" in page  # escaped
    assert "Test accuracy: 97.50%" in page
    images = sorted(p.name for p in tmp_path.glob("*.png"))
    assert images == ["weights-fc1.png", "weights-fc3.png"]
    for name in images:
        assert f'src="{name}"' in page
    with Image.open(tmp_path / "weights-fc1.png") as im:  # 100 templates of 8x8
        assert im.mode == "RGB" and im.width >= 10 * 8 * 8  # gray tiles, a blue lattice
    rows = re.findall(r"<tr><td>(\w+)</td>", page)
    assert rows == ["flatten", "fc1", "relu1", "fc2", "relu2", "fc3"]


def test_resnet_overview_measures_receptive_fields(tmp_path: Path) -> None:
    model = ResNet().eval()
    page = write_overview(model, tmp_path, example_input=torch.zeros(1, 3, 16, 16)).read_text()
    assert "weights-stem.png" in page
    # the residual block is not a chain: its field is measured from gradients
    assert re.search(r"<td>layer1</td>.*?\(empirical\)", page)
    stem = re.search(r"<td>stem</td>(.*?)</tr>", page).group(1)
    assert "3x3 px, stride 1x1" in stem


def test_model_without_weights_still_gets_a_page(tmp_path: Path) -> None:
    model = nn.Sequential(nn.Flatten(), nn.ReLU())
    page = write_overview(model, tmp_path, example_input=torch.zeros(2, 3)).read_text()
    assert "2 addressable layers" in page and not list(tmp_path.glob("*.png"))
