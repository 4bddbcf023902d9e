"""The gallery section: chosen classes and units visualized once for the model, each class
shown with the probability the model gives it on the saved PNG; computed again only when
the targets or settings asked for change. And sections that need labels skip data whose
labels are not the model's classes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image
from torch.utils.data import TensorDataset

from neuronscope.atlas.build import build_atlas
from neuronscope.atlas.sections import gallery
from neuronscope.atlas.store import AtlasStore
from neuronscope.web.app import create_app

from ..web.atlas_job import tiny_data, tiny_model

OPTS = {"name": "tiny", "data_name": "random", "k": 3, "progress": False}
TARGETS = ["fc:1", "conv2:0", "fc:2"]
FAST = {"steps": 4}


def build(out: Path, targets: list[str] | None = TARGETS, **settings: object) -> AtlasStore:
    return build_atlas(tiny_model(), tiny_data(), str(out), sections=("examples", "gallery"),
                       gallery=targets or (), gallery_settings={**FAST, **settings}, **OPTS)


def test_the_gallery_measures_each_class_on_its_saved_picture(tmp_path: Path) -> None:
    store = build(tmp_path)
    entry = store.manifest["sections"]["gallery"]
    assert entry["targets"] == TARGETS and entry["size"] == [16, 16]
    assert entry["settings"] == {**gallery.SETTINGS, **FAST}
    model = tiny_model()
    for item, target in zip(entry["items"], TARGETS, strict=True):
        assert item["target"] == target
        image = Image.open(store.path(item["file"]))
        assert image.size == (16, 16) and image.mode == "RGB"
        if target.startswith("fc:"):
            x = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255)
            with torch.no_grad():
                p = model(x.permute(2, 0, 1).unsqueeze(0)).softmax(1)[0]
            k = int(target[3:])
            assert item["class"] == "abc"[k]
            assert item["p"] == pytest.approx(float(p[k]), abs=1e-6)
            assert item["top"] == "abc"[int(p.argmax())]
        else:
            assert "class" not in item and "p" not in item  # a unit, not a class
    client = TestClient(create_app(tmp_path), base_url="http://127.0.0.1")
    home = client.get("/").text
    assert "href='/section/gallery'" in home and "gallery-00-fc-1.png" in home
    page = client.get("/section/gallery")
    assert page.status_code == 200
    assert "<b>b</b><br>p = " in page.text and "activation" in page.text
    assert "href='/layer/conv2/unit/0'" in page.text  # targets link to their unit pages
    for item in entry["items"]:
        assert client.get("/files/" + item["file"]).status_code == 200
    assert client.get("/section/nope").status_code == 404
    assert client.get("/section/examples").status_code == 404  # a section with no page


def test_the_gallery_is_made_again_only_when_asked_for_other_targets(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = build(tmp_path)
    first = store.manifest["sections"]["gallery"]

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the gallery was made again")

    monkeypatch.setattr(gallery, "visualize", refuse)
    assert build(tmp_path).manifest["sections"]["gallery"] == first  # same targets
    assert build(tmp_path, None).manifest["sections"]["gallery"] == first  # none asked
    monkeypatch.undo()
    again = build(tmp_path, ["fc:0"]).manifest["sections"]["gallery"]
    assert [i["target"] for i in again["items"]] == ["fc:0"]
    assert sorted(p.name for p in (tmp_path / "model").glob("gallery-*")) == [
        "gallery-00-fc-0.png"]  # the pictures of targets no longer asked for are gone
    steps = build(tmp_path, ["fc:0"], steps=5).manifest["sections"]["gallery"]
    assert steps["settings"]["steps"] == 5


def test_no_targets_skip_the_gallery(tmp_path: Path) -> None:
    store = build(tmp_path, None)
    assert "no gallery targets" in store.manifest["sections"]["gallery"]["skipped"]
    client = TestClient(create_app(tmp_path), base_url="http://127.0.0.1")
    assert "Gallery" not in client.get("/").text
    assert client.get("/section/gallery").status_code == 404


def test_a_bad_target_is_refused(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="conv9|fc has|0-2|range"):
        build(tmp_path, ["conv9:0"])


class Photos(TensorDataset):
    """Data labelled by classes of its own (as the photos dataset labels each photo)."""

    classes = [f"photo{i}" for i in range(36)]


def test_labels_that_are_not_the_model_s_classes_skip_the_lesions(tmp_path: Path) -> None:
    x, _ = tiny_data().tensors
    data = Photos(x, torch.arange(36))
    store = build_atlas(tiny_model(), data, str(tmp_path), sections=("ablation",),
                        ablation_n=12, **{**OPTS, "data_name": "photos"})
    why = store.manifest["layers"]["conv1"]["ablation"]["skipped"]
    assert why == ("the data's labels are its own 36 classes ('photo0', 'photo1', 'photo2', "
                   "...), not the model's 3")
    same = Photos(x, torch.arange(36) % 3)
    same.classes = ["a", "b", "c"]
    store = build_atlas(tiny_model(), same, str(tmp_path / "same"), sections=("ablation",),
                        ablation_n=12, **OPTS)
    assert "units" in store.manifest["layers"]["conv1"]["ablation"]
