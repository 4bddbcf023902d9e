"""Data in a model's space: load(name, model=...) and ImageNet-style folders labelled with
the model's class indices."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from PIL import Image
from torch import nn

from neuronscope import data
from neuronscope.core.loaders import IMAGENET_MEAN, imagenet_spec
from neuronscope.core.spec import InputSpec, attach_spec
from neuronscope.data.fit import fit_options
from neuronscope.data.normalize import Normalized
from neuronscope.data.wnids import WnidMismatchError
from neuronscope.zoo import imagenet

TENCH, TABBY = "n01440764", "n02123045"  # classes 0 and 281


@pytest.fixture(scope="module")
def spec() -> InputSpec:
    s = imagenet_spec(list(imagenet.class_names()))
    s.extra["wnids"] = list(imagenet.wnids())
    return s


def _folder(root: Path, subfolders: dict[str, tuple[int, int, int]], n: int = 3) -> Path:
    for name, color in subfolders.items():
        (root / name).mkdir(parents=True)
        for k in range(n):
            Image.new("RGB", (40, 30), color).save(root / name / f"{k}.png")
    return root


def test_wnid_subfolders_get_the_models_class_indices(tmp_path: Path, spec: InputSpec) -> None:
    root = _folder(tmp_path / "val", {TABBY: (200, 150, 100), TENCH: (0, 90, 0)})
    ds = data.load(f"folder:{root}", model=spec)
    assert ds.labels.tolist() == [0] * 3 + [281] * 3  # subfolders sorted: tench first
    x, label = ds[5]
    assert label == 281 and ds.classes[label] == "tabby" and ds.classes[0] == "tench"
    assert len(ds.classes) == 1000 and ds.folders == [TENCH, TABBY]
    assert x.shape == (3, 224, 224) and ds.spec.mean == IMAGENET_MEAN
    pixel = torch.tensor([200, 150, 100]).float().view(1, 3, 1, 1) / 255
    assert torch.allclose(x[:, 5, 5], spec.to_model(pixel).flatten(), atol=1e-5)
    assert ds.spec.extra["wnids"][281] == TABBY and ds.spec.class_names[281] == "tabby"
    assert "WordNet ids" in repr(ds)
    train = data.load(f"folder:{root}", split="train", model=spec, size=16)
    assert train.labels.tolist() == [0] * 3 + [281] * 3 and train[0][0].shape == (3, 16, 16)


def test_a_folder_named_by_its_wnid_is_that_class(tmp_path: Path, spec: InputSpec) -> None:
    root = _folder(tmp_path, {TENCH: (0, 90, 0)})
    ds = data.load(f"folder:{root / TENCH}", model=spec)
    assert ds.labels.tolist() == [0] * 3 and ds.classes[0] == "tench"


def test_some_subfolders_not_wnids_is_an_error_naming_them(tmp_path: Path,
                                                           spec: InputSpec) -> None:
    root = _folder(tmp_path / "val", {TENCH: (0, 90, 0), "misc": (9, 9, 9),
                                      "n99999999": (1, 2, 3)})
    with pytest.raises(WnidMismatchError, match=r"1 of the 3 class subfolders .* are "
                       r"WordNet ids of the model's classes, but 2 are not: 'misc', "
                       r"'n99999999'.*wnids=None") as info:
        data.load(f"folder:{root}", model=spec)
    assert isinstance(info.value, ValueError)
    ds = data.load(f"folder:{root}", model=spec, wnids=None)  # by order, explicitly
    assert ds.classes == ["misc", TENCH, "n99999999"] and ds.labels.tolist()[::3] == [0, 1, 2]


def test_folders_of_other_names_keep_their_order(tmp_path: Path, spec: InputSpec,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    root = _folder(tmp_path / "pets", {"cats": (1, 1, 1), "dogs": (2, 2, 2)})
    with caplog.at_level(logging.WARNING):
        ds = data.load(f"folder:{root}", model=spec)
        assert ds.classes == ["cats", "dogs"] and ds.wnids is None and not caplog.text
        other = _folder(tmp_path / "in21k", {"n99999998": (1, 1, 1), "n99999999": (2, 2, 2)})
        assert data.load(f"folder:{other}", model=spec).labels.tolist()[::3] == [0, 1]
    assert "look like WordNet ids but none is one of the model's 1000 classes" in caplog.text


def test_wnid_folders_for_a_model_without_wnids_warn(tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    root = _folder(tmp_path / "val", {TENCH: (1, 1, 1), TABBY: (2, 2, 2)})
    with caplog.at_level(logging.WARNING):
        ds = data.load(f"folder:{root}", model=imagenet_spec([str(i) for i in range(1000)]))
    assert ds.labels.tolist()[::3] == [0, 1] and "has no extra['wnids']" in caplog.text


def test_fixed_size_data_are_normalized_for_the_model(caplog: pytest.LogCaptureFixture
                                                      ) -> None:
    halves = InputSpec(shape=(3, 64, 64), mean=(0.5,) * 3, std=(0.25,) * 3)
    model = attach_spec(nn.Identity(), halves)
    ds = data.load("shapes", split="test", n=4, model=model)
    raw = data.load("shapes", split="test", n=4)
    assert isinstance(ds, Normalized) and torch.allclose(ds[1][0], (raw[1][0] - 0.5) / 0.25)
    with pytest.raises(ValueError, match="digits has 1 channels"):
        data.load("digits", model=imagenet_spec())
    with caplog.at_level(logging.WARNING):
        data.load("shapes", n=2, model=imagenet_spec())
    assert "gives inputs of 3x64x64 but the model's InputSpec says 3x224x224" in caplog.text
    plain = data.load("digits", split="test", model=nn.Identity())  # no spec: as it comes
    assert plain.spec.shape == (1, 8, 8)


def test_fit_options_give_way_to_overrides(spec: InputSpec) -> None:
    opts = fit_options("folder:x", spec, size=32, mean=(0.5,), std=(0.5,))
    assert opts["size"] == 32 and opts["mean"] == (0.5,) and len(opts["wnids"]) == 1000
    assert "wnids" not in fit_options("photos", spec)
    assert fit_options("photos", None) == {}
