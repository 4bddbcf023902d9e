"""A user's image folder as a dataset."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from neuronscope import data
from neuronscope.core.errors import NeuronscopeError

COLORS = {"apples": (255, 0, 0), "limes": (0, 255, 0)}


def _save(path, color, size=(20, 12)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)


@pytest.fixture
def class_folder(tmp_path):
    root = tmp_path / "fruit"
    for name, color in COLORS.items():
        for k in range(5):
            _save(root / name / f"{k}.png", color)
    (root / "notes.txt").write_text("not an image")
    (root / "empty").mkdir()
    return root


def test_class_subfolders(class_folder):
    ds = data.load(f"folder:{class_folder}", size=16)
    assert ds.classes == ["apples", "limes"] and len(ds) == 10
    X, y = ds.tensors()
    assert X.shape == (10, 3, 16, 16) and X.dtype == torch.float32 and y.dtype == torch.int64
    assert y.tolist() == [0] * 5 + [1] * 5
    x, label = ds[7]
    assert label == 1 and torch.allclose(x[:, 8, 8], torch.tensor([0.0, 1.0, 0.0]))
    assert ds.spec.shape == (3, 16, 16) and ds.spec.class_names == ["apples", "limes"]
    assert ds.spec.mean is None


def test_train_test_split(class_folder):
    train = data.load(f"folder:{class_folder}", split="train")
    test = data.load(f"folder:{class_folder}", split="test")
    assert len(train) == 8 and len(test) == 2  # 80/20 within each class
    assert set(train.files).isdisjoint(test.files)
    assert test.labels.tolist() == [0, 1]
    assert train[0][0].shape == (3, 64, 64)  # default size


def test_flat_folder_crops_and_mixes_formats(tmp_path):
    root = tmp_path / "zebras"
    root.mkdir()
    img = np.zeros((10, 30, 3), dtype=np.uint8)
    img[:, 10:20] = 255  # a white center square between black sides
    Image.fromarray(img).save(root / "b.png")
    Image.new("L", (8, 8), 128).save(root / "a.JPG")
    ds = data.load(f"folder:{root}", size=10)
    assert ds.classes == ["zebras"] and len(ds) == 2
    assert [f.name for f in ds.files] == ["a.JPG", "b.png"]
    x, label = ds[1]
    assert label == 0 and float(x.min()) > 0.9  # center-cropped: only the white part is left
    gray = ds[0][0]
    assert torch.equal(gray[0], gray[1]) and abs(float(gray.mean()) - 128 / 255) < 0.02


def test_normalization_is_applied_and_recorded(class_folder):
    mean, std = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
    ds = data.load(f"folder:{class_folder}", size=8, mean=mean, std=std)
    assert ds.spec.mean == mean and ds.spec.std == std
    x, _ = ds[0]  # red: (1, 0, 0) -> (2, -2, -2)
    assert torch.allclose(x[:, 0, 0], torch.tensor([2.0, -2.0, -2.0]))
    assert torch.allclose(ds.spec.to_display(x[None])[0, :, 0, 0], torch.tensor([1.0, 0.0, 0.0]))
    with pytest.raises(ValueError, match="both mean and std"):
        data.load(f"folder:{class_folder}", mean=0.5)


def test_missing_and_empty_folders(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(NeuronscopeError, match="does not exist") as info:
        data.load(f"folder:{missing}")
    assert str(missing) in str(info.value) and isinstance(info.value, ValueError)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.md").write_text("hi")
    with pytest.raises(NeuronscopeError, match="no images found") as info:
        data.load(f"folder:{empty}")
    assert str(empty) in str(info.value)


def test_deterministic(class_folder):
    a = data.load(f"folder:{class_folder}", size=8).tensors()
    b = data.load(f"folder:{class_folder}", size=8).tensors()
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
