"""photos: every bundled photograph and the LFW faces, named and grouped, at any size and
normalization, and in a model's space."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from PIL import Image

from neuronscope import data
from neuronscope.core.loaders import IMAGENET_MEAN, IMAGENET_STD, imagenet_spec
from neuronscope.core.spec import InputSpec
from neuronscope.data.photo_sources import GROUPS
from neuronscope.data.photos import Photos, photo


@pytest.fixture(scope="module")
def small() -> Photos:
    return data.load("photos", size=32)


def test_every_source_is_there_with_names_and_groups(small: Photos) -> None:
    counts = {g: small.groups.count(g) for g in GROUPS}
    assert counts == {"skimage": 19, "sklearn": 2, "matplotlib": 1, "lfw-face": 100,
                      "lfw-nonface": 100}
    assert len(small) == len(small.names) == len(set(small.names)) == 222
    by_name = dict(zip(small.names, small.groups, strict=True))
    assert by_name["grace_hopper"] == "matplotlib" and by_name["china"] == "sklearn"
    assert by_name["chelsea"] == "skimage" and by_name["microaneurysms"] == "skimage"
    assert small.names[22] == "lfw-face-000" and small.names[-1] == "lfw-nonface-099"
    assert small.classes == small.names and small.tensors()[1].tolist() == list(range(222))
    assert small.spec.class_names == small.names and small.spec.mean is None


def test_lfw_faces_are_labelled_and_upsampled_as_rgb() -> None:
    from skimage.data import lfw_subset

    ds = data.load("photos", size=50, groups=["lfw-face", "lfw-nonface"], label_by="group")
    assert ds.classes == ["lfw-face", "lfw-nonface"] and len(ds) == 200
    X, y = ds.tensors()
    assert y.tolist() == [0] * 100 + [1] * 100 and ds.groups[99:101] == ["lfw-face",
                                                                          "lfw-nonface"]
    raw = np.round(lfw_subset()[7] * 255).astype(np.uint8)  # the 8th face, 25x25 gray
    want = np.array(Image.fromarray(raw).resize((50, 50), Image.Resampling.LANCZOS))
    assert torch.equal(X[7], torch.from_numpy(want).float().div(255).expand(3, 50, 50))
    assert torch.equal(photo("lfw-face-007", 50), X[7])


def test_groups_keep_their_order_and_label_by_group() -> None:
    ds = data.load("photos", size=16, groups=["lfw-nonface", "sklearn"], label_by="group")
    assert ds.classes == ["sklearn", "lfw-nonface"] and ds.names[:2] == ["china", "flower"]
    assert ds[0][1] == 0 and ds[2][1] == 1 and len(ds) == 102


def test_size_and_normalization_match_the_raw_photo_in_model_space() -> None:
    from skimage.data import chelsea

    spec = InputSpec(shape=(3, 48, 64), mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3))
    ds = data.load("photos", size=(48, 64), mean=spec.mean, std=spec.std)
    assert ds.spec.shape == (3, 48, 64) and (ds.spec.mean, ds.spec.std) == (spec.mean, spec.std)
    i = ds.names.index("chelsea")
    img = Image.fromarray(chelsea())  # 451x300: crop the sides to 4:3, then resize
    w = round(300 * 64 / 48)
    img = img.crop(((451 - w) // 2, 0, (451 - w) // 2 + w, 300)).resize(
        (64, 48), Image.Resampling.LANCZOS)
    raw = torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1).float() / 255
    assert torch.allclose(ds[i][0], spec.to_model(raw[None])[0], atol=1e-6)
    assert torch.allclose(spec.to_display(ds.tensors()[0][i : i + 1])[0], raw, atol=1e-6)


def test_load_with_a_model_spec_gives_imagenet_inputs() -> None:
    ds = data.load("photos", model=imagenet_spec(), groups="skimage")
    assert ds.spec.shape == (3, 224, 224) and ds.spec.mean == IMAGENET_MEAN
    assert ds.spec.std == IMAGENET_STD and len(ds) == 19
    i = ds.names.index("coffee")
    want = imagenet_spec().to_model(photo("coffee", 224)[None])[0]
    assert torch.allclose(ds[i][0], want, atol=1e-6)
    over = data.load("photos", model=imagenet_spec(), size=64, groups="sklearn")
    assert over.spec.shape == (3, 64, 64) and over.spec.mean == IMAGENET_MEAN


def test_a_photo_a_package_cannot_give_is_skipped_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import neuronscope.data.photos as photos

    real = photos.raw

    def raw(name: str) -> np.ndarray:
        if name in ("china", "lfw-face-003"):
            raise ImportError("scikit-learn is not installed")
        return real(name)

    monkeypatch.setattr(photos, "raw", raw)
    with caplog.at_level(logging.WARNING):
        ds = data.load("photos", size=8)
    assert len(ds) == 220 and "china" not in ds.names and "flower" in ds.names
    assert "2 photos are not available offline, skipped: china, lfw-face-003" in caplog.text
    with pytest.raises(ValueError, match="none of the photos of sklearn"):
        monkeypatch.setattr(photos, "raw", lambda name: raw("china"))
        data.load("photos", size=8, groups="sklearn")


def test_bad_options_say_what_is_valid() -> None:
    with pytest.raises(ValueError, match="groups must name some of 'skimage'"):
        data.load("photos", groups=["faces"])
    with pytest.raises(ValueError, match="label_by must be 'photo' or 'group'"):
        data.load("photos", label_by="source")
    with pytest.raises(ValueError, match="both mean and std"):
        data.load("photos", mean=0.5)
    with pytest.raises(ValueError, match="size must be a positive"):
        data.load("photos", size=0)
    with pytest.raises(KeyError, match="lfw-face-000 to -099"):
        photo("lfw-face-100")


def test_the_files_read_are_what_the_packages_functions_give() -> None:
    import skimage.data

    from neuronscope.data.photo_sources import _SKIMAGE, raw

    for name, (function, _) in _SKIMAGE.items():
        want = getattr(skimage.data, function)()
        want = want[0] if isinstance(want, tuple) else want
        assert np.array_equal(raw(name), want), name
    assert raw("lfw-nonface-099").shape == (25, 25) and raw("grace_hopper").shape[2] == 3
