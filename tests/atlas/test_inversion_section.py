"""The inversion section of the atlas: per layer, conv and linear alike, the photo and its
reconstruction from the layer, with the correlation and distance in the manifest, on the
layer page and in the model page's strip; two builds are the same, byte for byte."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from neuronscope.atlas import build_atlas
from neuronscope.atlas.store import AtlasStore
from neuronscope.web.app import create_app

from ..web.atlas_job import tiny_data, tiny_model

STEPS = 6


def build(out: Path) -> AtlasStore:
    return build_atlas(tiny_model(), tiny_data(6), str(out), sections=("inversion",),
                       invert_steps=STEPS, steps=3, progress=False)


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


@pytest.fixture(scope="module")
def atlas(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("inversion") / "atlas"
    build(out)
    return out


def test_every_layer_has_the_photo_its_reconstruction_and_the_numbers(atlas: Path) -> None:
    store = AtlasStore(atlas, writer=False)
    assert sorted(store.manifest["layers"]) == ["conv1", "conv2", "fc"]  # linear too
    for layer in ("conv1", "conv2", "fc"):
        entry = store.manifest["layers"][layer]["inversion"]
        assert entry["image"] == store.layer_file(layer, "inversion")
        assert (atlas / entry["image"]).is_file() and (atlas / entry["source"]).is_file()
        assert entry["photo"] == "astronaut" and entry["steps"] == STEPS  # not featvis's 3
        assert -1 <= entry["correlation"] <= 1 and math.isfinite(entry["distance"])
        assert entry["distance"] >= 0


def test_the_pages_show_both_images_and_the_numbers(atlas: Path) -> None:
    store = AtlasStore(atlas, writer=False)
    entry = store.manifest["layers"]["conv2"]["inversion"]
    client = TestClient(create_app(atlas), base_url="http://127.0.0.1")
    page = client.get("/layer/conv2").text
    assert "<h2>Inversion</h2>" in page
    assert f"/files/{entry['source']}" in page and f"/files/{entry['image']}" in page
    assert f"r = {entry['correlation']:.3f}" in page and f"distance {entry['distance']:.3g}" in page
    model = client.get("/").text
    strip = model[model.index("<h2>Inversion</h2>"):]
    for layer in ("conv1", "conv2", "fc"):
        shown = store.manifest["layers"][layer]["inversion"]
        assert f"/files/{shown['image']}" in strip and f"r = {shown['correlation']:.2f}" in strip
    assert client.get(f"/files/{entry['image']}").status_code == 200


def test_two_builds_are_the_same(atlas: Path, tmp_path: Path) -> None:
    build(tmp_path / "again")
    assert files(tmp_path / "again") == files(atlas)


def test_a_gray_model_of_another_value_range_gets_the_photo_in_gray(tmp_path: Path) -> None:
    import numpy as np
    import torch
    from PIL import Image
    from torch import nn
    from torch.utils.data import TensorDataset

    from neuronscope.core.spec import InputSpec, attach_spec

    torch.manual_seed(0)
    model = attach_spec(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()).eval(),
                        InputSpec(shape=(1, 12, 12), value_range=(-1.0, 1.0)))
    store = build_atlas(model, TensorDataset(torch.rand(2, 1, 12, 12) * 2 - 1), str(tmp_path),
                        sections=("inversion",), invert_steps=STEPS, progress=False)
    entry = store.manifest["layers"]["0"]["inversion"]
    with Image.open(tmp_path / entry["source"]) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
    assert (pixels[..., 0] == pixels[..., 2]).all() and 40 < pixels.mean() < 215  # in [0, 1]
