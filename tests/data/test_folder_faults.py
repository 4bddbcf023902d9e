"""An image folder with files that are not usable images, other sizes, and normalization."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from neuronscope import data
from neuronscope.data.base import Normalized, TensorImageDataset, crop_resize
from neuronscope.data.folder import ImageFolderError


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for k in range(5):
        (tmp_path / "pics" / "red").mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (40, 20), (255, 0, 0)).save(tmp_path / "pics" / "red" / f"{k}.png")
    return tmp_path / "pics"


def test_a_text_file_named_png_is_refused_by_name(folder: Path) -> None:
    (folder / "red" / "notes.png").write_text("not a picture")
    with pytest.raises(ImageFolderError, match="notes.png.*not an image that PIL can read"):
        data.load(f"folder:{folder}")
    data.load(f"folder:{folder}", split="test")  # the file is in the train split only


def test_an_image_over_the_pixel_limit_is_refused_by_name(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 900)  # the others have 800 pixels
    Image.new("RGB", (31, 30)).save(folder / "red" / "big.png")  # PIL's warning zone
    with pytest.raises(ImageFolderError, match=r"^1 file .*big.png.*too large.*930 pixels"):
        data.load(f"folder:{folder}")


def test_a_truncated_image_names_the_file_when_decoded(folder: Path) -> None:
    whole = (folder / "red" / "0.png").read_bytes()
    (folder / "red" / "0.png").write_bytes(whole[: len(whole) // 2])  # header intact
    ds = data.load(f"folder:{folder}", size=8)
    with pytest.raises(ImageFolderError, match=r"0.png.*cannot be decoded"):
        ds.tensors()


def test_height_and_width_and_one_value_normalization(folder: Path) -> None:
    ds = data.load(f"folder:{folder}", size=(6, 12), mean=(0.5,), std=(0.5,))
    x, _ = ds[0]
    assert x.shape == (3, 6, 12) and ds.spec.shape == (3, 6, 12)
    assert ds.spec.mean == (0.5,) * 3 and torch.allclose(x[:, 3, 6], torch.tensor([1., -1, -1]))
    assert ds.size == (6, 12) and data.load(f"folder:{folder}", size=7).size == 7
    with pytest.raises(ValueError, match="height, width"):
        data.load(f"folder:{folder}", size=(0, 4))


def test_crop_resize_keeps_the_aspect_ratio_by_cropping() -> None:
    img = Image.new("RGB", (40, 20))
    img.paste((255, 255, 255), (0, 0, 10, 20))  # a white band at the left, cropped away
    out = crop_resize(img, 10, 10)
    assert out.size == (10, 10) and out.getpixel((0, 5)) == (0, 0, 0)
    assert crop_resize(Image.new("RGB", (40, 40)), 8, 16).size == (16, 8)


def test_normalized_view_of_a_dataset() -> None:
    base = TensorImageDataset(torch.full((3, 1, 2, 2), 0.75), torch.tensor([0, 1, 0]), ["a", "b"])
    ds = Normalized(base, (0.5,), (0.25,))
    x, label = ds[1]
    assert label == 1 and torch.equal(x, torch.ones(1, 2, 2)) and len(ds) == 3
    assert ds.classes == ["a", "b"] and ds.spec.mean == (0.5,) and base.spec.mean is None
    X, y = ds.tensors()
    assert torch.equal(X, torch.ones(3, 1, 2, 2)) and y.tolist() == [0, 1, 0]
    assert torch.allclose(ds.spec.to_display(X), base.tensors()[0])


def test_normalized_keeps_dict_items() -> None:
    class Dicts(TensorImageDataset):
        def __getitem__(self, i: int) -> dict:
            x, y = super().__getitem__(i)
            return {"image": x, "label": y}

    ds = Normalized(Dicts(torch.ones(2, 1, 2, 2), torch.tensor([0, 1]), ["a", "b"]), (0.5,), (0.5,))
    item = ds[0]
    assert torch.equal(item["image"], torch.ones(1, 2, 2)) and item["label"] == 0
