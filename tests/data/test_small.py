"""digits, faces and photos: sizes, splits, values."""

from __future__ import annotations

import pytest
import torch

from neuronscope import data
from neuronscope.data.photos import PHOTO_NAMES, photo


def test_digits_split_sizes_and_balance():
    train, test, all_ = (data.load("digits", split=s) for s in ("train", "test", "all"))
    assert (len(train), len(test), len(all_)) == (1437, 360, 1797)
    assert test.classes == [str(d) for d in range(10)]
    counts = torch.bincount(test.tensors()[1], minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37  # stratified: ~36 per class
    # train + test is a partition of all: same per-class counts
    assert torch.equal(
        torch.bincount(train.tensors()[1], minlength=10) + counts,
        torch.bincount(all_.tensors()[1], minlength=10),
    )


def test_digits_items_and_spec():
    ds = data.load("digits", split="test")
    x, label = ds[0]
    assert x.shape == (1, 8, 8) and x.dtype == torch.float32
    assert isinstance(label, int) and 0 <= label <= 9
    X, y = ds.tensors()
    assert X.shape == (360, 1, 8, 8) and y.dtype == torch.int64
    assert float(X.min()) == 0.0 and float(X.max()) == 1.0
    assert ds.spec.shape == (1, 8, 8) and ds.spec.kind == "image"
    assert ds.spec.class_names == ds.classes and ds.spec.mean is None


def test_digits_deterministic_and_split_differs():
    a, b = data.load("digits", split="test").tensors(), data.load("digits", split="test").tensors()
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    train = data.load("digits", split="train").tensors()[0]
    assert not torch.equal(train[:360], a[0])


def test_faces_split_sizes_and_balance():
    train, test = data.load("faces", split="train"), data.load("faces", split="test")
    assert (len(train), len(test)) == (160, 40)
    assert train.classes == ["non-face", "face"]
    assert torch.bincount(test.tensors()[1]).tolist() == [20, 20]
    assert torch.bincount(train.tensors()[1]).tolist() == [80, 80]


def test_faces_values_and_order():
    ds = data.load("faces", split="all")
    X, y = ds.tensors()
    assert X.shape == (200, 1, 25, 25) and X.dtype == torch.float32
    assert 0.0 <= float(X.min()) and float(X.max()) <= 1.0
    assert y[:100].eq(1).all() and y[100:].eq(0).all()  # the first 100 are faces


def test_photos_load_at_the_right_size():
    ds = data.load("photos", size=40)
    assert len(ds) == len(ds.classes) >= 20
    assert {"astronaut", "coffee", "chelsea", "china", "flower"} <= set(ds.classes)
    x, label = ds[3]
    assert x.shape == (3, 40, 40) and x.dtype == torch.float32 and label == 3
    X, y = ds.tensors()
    assert torch.equal(y, torch.arange(len(ds)))
    assert 0.0 <= float(X.min()) and float(X.max()) <= 1.0
    assert ds.spec.shape == (3, 40, 40) and ds.spec.class_names == ds.classes == ds.names
    assert ds.names[: len(PHOTO_NAMES)] == PHOTO_NAMES  # the named photos, then LFW's
    # grayscale photos become RGB with three equal channels
    cam = X[ds.classes.index("camera")]
    assert torch.equal(cam[0], cam[1]) and torch.equal(cam[1], cam[2])
    # a real photo is not flat
    assert float(X[ds.classes.index("astronaut")].std()) > 0.1


def test_photos_every_split_is_everything_and_photo_helper_matches():
    a, b = data.load("photos", split="train", size=24), data.load("photos", split="test", size=24)
    assert torch.equal(a.tensors()[0], b.tensors()[0])
    assert torch.equal(photo("rocket", size=24), a[a.classes.index("rocket")][0])
    assert photo("astronaut").shape == (3, 224, 224)


def test_photo_unknown_name():
    with pytest.raises(KeyError, match="did you mean 'astronaut'"):
        photo("astronot")
