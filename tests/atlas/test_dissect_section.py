"""The dissect section of the atlas: a planted red unit is labelled color:red on its page,
with its IoU and its outlined top inputs; the model page counts detectors per layer and
category; a rebuild computes only what is missing; a failed causal check keeps the labels;
data that are not images are left out with one line."""

from __future__ import annotations

import logging
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image
from torch import nn
from torch.utils.data import TensorDataset

from neuronscope.atlas import build_atlas, register_section, section_names
from neuronscope.atlas.sections import unregister_section
from neuronscope.core.spec import InputSpec, attach_spec
from neuronscope.data.shapes import SHAPES, Shapes
from neuronscope.web.app import create_app


@pytest.fixture()
def section() -> Any:
    """The section module, registered for the test only (unless it is a built-in)."""
    from neuronscope.atlas.sections import dissect as module

    built_in = "dissect" in section_names()
    register_section(module.Dissect)
    yield module
    if not built_in:
        unregister_section("dissect")


def planted() -> nn.Module:
    """Layer "act" unit 0 is 1 on red pixels and 0 elsewhere (as in
    tests/methods/test_dissect.py); unit 1 is a small random filter; "fc" scores 7 classes."""
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 2, 3, padding=1)
    with torch.no_grad():
        w = torch.randn(2, 3, 3, 3) * 0.05
        conv.weight.copy_(w - w.mean((2, 3), keepdim=True))
        conv.weight[0] = 0
        conv.weight[0, :, 1, 1] = torch.tensor([1.0, -1.0, -1.0]) * 20
        conv.bias.copy_(torch.tensor([-20 * 0.45, 0.0]))
    net = nn.Sequential(OrderedDict(conv=conv, act=nn.Hardtanh(0.0, 1.0),
                                    pool=nn.AdaptiveAvgPool2d(1), flat=nn.Flatten(),
                                    fc=nn.Linear(2, len(SHAPES)))).eval()
    return attach_spec(net, InputSpec(shape=(3, 64, 64), class_names=list(SHAPES)))


@pytest.fixture(scope="module")
def shapes() -> Shapes:
    return Shapes("test", n=64, masks=True)


def build(out: Path, data: Any, layers: tuple[str, ...] = ("act", "fc"), **options: Any) -> Any:
    return build_atlas(planted(), data, str(out), layers=list(layers), sections=("dissect",),
                       progress=False, **options)


def test_the_red_unit_page_names_red_with_its_iou_and_picture(section: Any, shapes: Shapes,
                                                              tmp_path: Path) -> None:
    atlas = build(tmp_path, shapes)
    units = atlas.read_json(atlas.units_json("act", "dissect"))
    assert units["detectors"] == [0] and units["source"] == "the data's own concept masks"
    assert atlas.manifest["layers"]["fc"]["dissect"]["skipped"].startswith("no channel axis")
    picture = "dissect/act/unit-0000-top.png"
    for file in (picture, "model/dissect-detectors.png", "units/act/dissect.json",
                 "arrays/dissect-act.safetensors"):
        assert (tmp_path / file).is_file(), file
    assert not (tmp_path / "dissect/act/unit-0001-top.png").exists()  # no detector, no picture
    with Image.open(tmp_path / picture) as image:
        assert image.width > 6 * image.height  # the top inputs in a row

    client = TestClient(create_app(tmp_path), base_url="http://127.0.0.1")
    red = client.get("/layer/act/unit/0").text
    assert "<b>color:red</b>, IoU 1.000: a detector" in red
    assert f"src='/files/{picture}'" in red and "runners-up: shape:" in red
    assert "causal check: not scored: the network's classes hold no evidence" in red
    other = client.get("/layer/act/unit/1").text
    assert "not a detector (IoU below 0.04)" in other and "/files/dissect/" not in other
    model = client.get("/").text
    assert "<table id='dissect'>" in model and "/files/model/dissect-detectors.png" in model
    row = model.split("<table id='dissect'>")[1].split("</table>")[0]
    assert ">act</a></td><td class='num'>2</td><td class='num'>1</td>" in row and ">fc<" not in row
    layer = client.get("/layer/act").text
    assert "detectors first, by IoU" in layer and "1 of 2 units are detectors" in layer
    assert "<span>0 red 1.00</span>" in layer and "<span>1</span>" in layer
    assert layer.index("/layer/act/unit/0") < layer.index("/layer/act/unit/1")


@pytest.mark.parametrize("kind", ["shapes without masks", "plain images"])
def test_data_without_masks_are_dissected_for_concepts(section: Any, shapes: Shapes,
                                                        tmp_path: Path, kind: str) -> None:
    if kind == "shapes without masks":
        data, source = Shapes("test", n=64), "the data's own concept masks"
    else:
        images = torch.stack([shapes[i]["image"] for i in range(len(shapes))])
        data, source = TensorDataset(images, torch.zeros(len(images), dtype=torch.long)), \
            "the colours of the data's pixels"
    atlas = build(tmp_path, data, layers=("act",))
    units = atlas.read_json(atlas.units_json("act", "dissect"))
    assert units["source"] == source and units["concepts"][0] == "color:red"
    assert units["ious"][0] > 0.5 and units["detectors"] == [0]


def test_a_rebuild_computes_only_the_missing_layers(section: Any, shapes: Shapes,
                                                    tmp_path: Path, monkeypatch: Any) -> None:
    build(tmp_path, shapes, layers=("act",))
    chart = tmp_path / "model/dissect-detectors.png"
    before = chart.read_bytes()
    calls: list[list[str]] = []
    real = section.dissect

    def spy(model: Any, data: Any, layers: list[str], **kwargs: Any) -> Any:
        calls.append(list(layers))
        return real(model, data, layers, **kwargs)

    monkeypatch.setattr(section, "dissect", spy)
    build(tmp_path, shapes, layers=("act",))
    assert calls == []  # nothing is computed again
    atlas = build(tmp_path, shapes, layers=("act", "conv"))
    assert calls == [["conv"], ["conv"]]  # the labels and the rotation control, conv alone
    assert atlas.done("conv", "dissect") and chart.read_bytes() != before  # both layers now


def test_a_failed_causal_check_keeps_the_labels(section: Any, shapes: Shapes, tmp_path: Path,
                                                monkeypatch: Any, caplog: Any) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("no evidence today")

    monkeypatch.setattr(section, "faithfulness", broken)
    with caplog.at_level(logging.WARNING):
        atlas = build(tmp_path, shapes, layers=("act",))
    assert "causal check failed (RuntimeError: no evidence today)" in caplog.text
    units = atlas.read_json(atlas.units_json("act", "dissect"))
    assert units["concepts"][0] == "color:red" and units["causal"].startswith("not run")
    page = TestClient(create_app(tmp_path), base_url="http://127.0.0.1").get(
        "/layer/act/unit/0").text
    assert "causal check not run: it failed (RuntimeError)" in page


def test_data_that_are_not_images_are_left_out_in_one_line(section: Any,
                                                           tmp_path: Path) -> None:
    model = attach_spec(nn.Sequential(nn.Linear(4, 3), nn.ReLU()).eval(),
                        InputSpec(shape=(4,)))
    data = TensorDataset(torch.rand(12, 4), torch.zeros(12, dtype=torch.long))
    atlas = build_atlas(model, data, str(tmp_path), sections=("dissect",), progress=False)
    assert atlas.manifest["layers"]["0"]["dissect"]["skipped"].startswith("the data are not")
    model_page = TestClient(create_app(tmp_path), base_url="http://127.0.0.1").get("/").text
    assert "Not dissected: the data are not images" in model_page
    assert not (tmp_path / "model/dissect-detectors.png").exists()
