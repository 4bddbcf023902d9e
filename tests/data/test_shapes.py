"""The generated shapes scenes: determinism, labels, concept masks."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest
import torch

from neuronscope import data
from neuronscope.data._scenes import MIN_AREA_RATIO
from neuronscope.data.shapes import CONCEPTS, SHAPES, Shapes


def _digest(X: torch.Tensor, y: torch.Tensor) -> str:
    return hashlib.sha256(X.numpy().tobytes() + y.numpy().tobytes()).hexdigest()


def test_items_dtypes_shapes_and_ranges():
    ds = data.load("shapes", split="test", n=24)
    assert len(ds) == 24 and ds.classes == list(SHAPES) and len(ds.classes) >= 6
    x, label = ds[0]
    assert x.shape == (3, 64, 64) and x.dtype == torch.float32
    assert isinstance(label, int) and 0 <= label < len(ds.classes)
    X, y = ds.tensors()
    assert X.shape == (24, 3, 64, 64) and X.dtype == torch.float32 and y.dtype == torch.int64
    assert 0.0 <= float(X.min()) and float(X.max()) <= 1.0
    spec = ds.spec
    assert spec.shape == (3, 64, 64) and spec.kind == "image" and spec.value_range == (0.0, 1.0)
    assert spec.class_names == ds.classes and spec.mean is None and spec.std is None


def test_default_sizes():
    assert len(Shapes("train")) == 10_000 and len(Shapes("test")) == 2_000
    assert len(Shapes("all")) == 12_000


def test_deterministic_across_loads():
    a, b = Shapes("train", n=16).tensors(), Shapes("train", n=16).tensors()
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_deterministic_across_processes():
    code = (
        "import hashlib; from neuronscope.data.shapes import Shapes;"
        "X, y = Shapes('test', n=6).tensors();"
        "print(hashlib.sha256(X.numpy().tobytes() + y.numpy().tobytes()).hexdigest())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == _digest(*Shapes("test", n=6).tensors())


def test_random_access_equals_full_pass():
    X, y = Shapes("train", n=20).tensors()
    fresh = Shapes("train", n=20)
    for i in (17, 3, 0, 19):
        x, label = fresh[i]
        assert torch.equal(x, X[i]) and label == int(y[i])
    # an item does not depend on how many items the split has
    assert torch.equal(Shapes("train", n=5)[4][0], X[4])
    assert torch.equal(fresh[-1][0], X[19])
    with pytest.raises(IndexError):
        fresh[20]


def test_all_is_train_then_test():
    all_ = Shapes("all", n=12)  # 10 train + 2 test
    assert len(all_) == 12
    assert torch.equal(all_[9][0], Shapes("train", n=10)[9][0])
    assert torch.equal(all_[10][0], Shapes("test", n=2)[0][0])


def test_train_test_and_seeds_differ():
    train, test = Shapes("train", n=8).tensors()[0], Shapes("test", n=8).tensors()[0]
    assert not torch.equal(train, test)
    other = Shapes("train", n=8, seed=1).tensors()[0]
    assert not torch.equal(train, other)


def test_label_is_the_largest_shape():
    ds = Shapes("train", n=60)
    n_multi = 0
    for i in range(len(ds)):
        scene = ds.scene(i)
        x, label = ds[i]
        areas = [s.area for s in scene.shapes]
        largest = max(range(len(areas)), key=areas.__getitem__)
        assert SHAPES[label] == scene.shapes[largest].kind == ds.classes[scene.label]
        for k, a in enumerate(areas):
            if k != largest:
                assert areas[largest] >= MIN_AREA_RATIO * a
                n_multi += 1
        assert 250 <= areas[largest] <= 1000  # decently sized at 64x64
        # the scene metadata matches the pixels: the largest shape is drawn with its color
        mask = ds.concept_masks(i)[CONCEPTS.index(f"shape:{SHAPES[label]}")]
        rgb = torch.tensor(scene.shapes[-1].rgb, dtype=torch.float32) / 255.0
        assert int(mask.sum()) >= areas[largest]
        main_pixels = x[:, mask]
        assert ((main_pixels == rgb[:, None]).all(0)).sum() >= areas[largest]
    assert n_multi >= 30  # scenes often have more than one shape


def test_masks_are_consistent():
    ds = data.load("shapes", split="train", n=40, masks=True)
    assert ds.concepts == CONCEPTS
    kinds = {c.split(":")[0] for c in CONCEPTS}
    assert kinds == {"shape", "color", "texture"}
    n_shape = sum(c.startswith("shape:") for c in CONCEPTS)
    n_color = sum(c.startswith("color:") for c in CONCEPTS)
    for i in range(len(ds)):
        item = ds[i]
        assert set(item) == {"image", "label", "masks"}
        masks = item["masks"]
        assert masks.dtype == torch.bool and masks.shape == (len(CONCEPTS), 64, 64)
        shape_m = masks[:n_shape]
        color_m = masks[n_shape : n_shape + n_color]
        texture_m = masks[n_shape + n_color :]
        assert shape_m[item["label"]].any()
        per_pixel_shape = shape_m.sum(0)
        assert per_pixel_shape.max() <= 1  # a pixel shows at most one shape class
        on_shape = per_pixel_shape == 1
        # every pixel is either some shape or exactly one texture
        assert torch.equal(texture_m.sum(0), (~on_shape).long())
        # color masks cover exactly the shape pixels, one color each
        assert torch.equal(color_m.sum(0), on_shape.long())
        # the background texture mask is the scene's texture
        scene = ds.scene(i)
        tex = CONCEPTS.index(f"texture:{scene.texture}")
        assert masks[tex].any() and int(texture_m.sum()) == int(masks[tex].sum())
        # the image is the same with or without masks
        x, label = Shapes("train", n=40)[i]
        assert torch.equal(x, item["image"]) and label == item["label"]


def test_background_pixels_use_the_texture_colors():
    ds = Shapes("test", n=30, masks=True)
    checked = 0
    for i in range(len(ds)):
        scene = ds.scene(i)
        if scene.texture == "noise":
            continue
        item = ds[i]
        bg = item["masks"][CONCEPTS.index(f"texture:{scene.texture}")]
        pixels = (item["image"][:, bg] * 255).round().long().T
        allowed = {tuple(scene.background[0]), tuple(scene.background[1])}
        assert {tuple(p) for p in pixels.tolist()} <= allowed
        checked += 1
    assert checked > 10


def test_classes_and_textures_all_occur():
    ds = Shapes("train", n=400)
    y = ds.tensors()[1]
    counts = torch.bincount(y, minlength=len(SHAPES))
    assert counts.min() >= 30  # roughly balanced: ~57 each
    textures = {ds.scene(i).texture for i in range(60)}
    assert textures == {"plain", "stripes", "dots", "checker", "noise"}


def test_bad_arguments():
    with pytest.raises(ValueError, match="size"):
        Shapes("train", n=2, size=8)
    with pytest.raises(ValueError, match="non-negative"):
        Shapes("train", n=-1)


def test_other_size():
    ds = Shapes("train", n=3, size=32, masks=True)
    item = ds[0]
    assert item["image"].shape == (3, 32, 32) and item["masks"].shape[1:] == (32, 32)
    assert ds.spec.shape == (3, 32, 32)
