import numpy as np
import pytest
import torch
from PIL import Image

from neuronscope.render.grid import image_grid, normalize_images, save_png, to_uint8


@pytest.mark.parametrize(
    ("n", "nrow", "pad", "scale", "size"),
    [
        (5, 2, 1, 2, (2 * (6 * 2 + 1) + 1, 3 * (4 * 2 + 1) + 1)),
        (7, None, 2, 1, (3 * (6 + 2) + 2, 3 * (4 + 2) + 2)),  # ceil(sqrt(7)) = 3 per row
        (3, 10, 0, 3, (3 * 18, 12)),  # nrow larger than N: one row of N
        (1, None, 1, 1, (8, 6)),
    ],
)
def test_grid_geometry(n: int, nrow: int | None, pad: int, scale: int, size: tuple) -> None:
    image = image_grid(torch.rand(n, 3, 4, 6), nrow=nrow, pad=pad, scale=scale)
    assert image.size == size and image.mode == "RGB"


def test_tile_placement_and_padding() -> None:
    x = torch.zeros(4, 1, 2, 3)
    x[3] = 1.0
    a = np.asarray(image_grid(x, nrow=2, pad=1, scale=2, normalize=None, pad_value=0.5))
    assert a.shape == (2 * 5 + 1, 2 * 7 + 1)
    assert (a[0] == 128).all() and (a[:, 0] == 128).all() and (a[5] == 128).all()
    assert (a[1:5, 1:7] == 0).all()  # image 0
    assert (a[6:10, 8:14] == 255).all()  # image 3: second row, second column


def test_normalization_extremes() -> None:
    x = torch.stack([torch.linspace(-3, 5, 16), torch.linspace(10, 11, 16)]).view(2, 1, 4, 4)
    each = np.asarray(image_grid(x, nrow=2, pad=0, normalize="each"))
    assert each[:, :4].min() == 0 and each[:, :4].max() == 255
    assert each[:, 4:].min() == 0 and each[:, 4:].max() == 255
    all_ = np.asarray(image_grid(x, nrow=2, pad=0, normalize="all"))
    assert all_.min() == 0 and all_.max() == 255 and all_[:, 4:].min() > 200
    w = torch.tensor([[-2.0, 0.0], [1.0, 2.0]]).view(1, 1, 2, 2)
    sym = np.asarray(image_grid(w, pad=0, normalize="symmetric"))
    assert sym.tolist() == [[0, 128], [191, 255]]
    clamped = np.asarray(image_grid(w, pad=0, normalize=None))
    assert clamped.tolist() == [[0, 0], [255, 255]]
    assert (normalize_images(torch.full((2, 1, 3, 3), 7.0)) == 0.5).all()
    both = normalize_images(torch.tensor([[1.0, -1.0], [4.0, 0.0]]), "symmetric_all")
    assert both.tolist() == [[0.625, 0.375], [1.0, 0.5]]
    with pytest.raises(ValueError, match="normalize"):
        normalize_images(w, "minmax")


def test_grayscale_rgb_and_other_channels() -> None:
    assert image_grid(torch.rand(2, 1, 4, 4)).mode == "L"
    assert image_grid(torch.rand(2, 4, 4)).mode == "L"  # [N, H, W]
    rgb = np.asarray(image_grid(torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1), pad=0,
                                normalize=None))
    assert rgb.tolist() == [[[255, 0, 0]]]
    five = image_grid(torch.rand(2, 5, 4, 4))  # no colour meaning: channel mean in gray
    assert five.mode == "L" and five.size == image_grid(torch.rand(2, 1, 4, 4)).size
    with pytest.raises(ValueError, match=r"\[N, C, H, W\]"):
        image_grid(torch.rand(4, 4))


def test_labels_enlarge_the_image() -> None:
    x = torch.rand(6, 3, 8, 8)
    plain = image_grid(x, nrow=3, scale=4)
    labelled = image_grid(x, nrow=3, scale=4, labels=[f"class {i}" for i in range(6)])
    assert labelled.size[0] == plain.size[0] and labelled.size[1] > plain.size[1]
    a = np.asarray(labelled)
    below = a[1 + 32:1 + 32 + 12, 1:33]  # under the first tile: some dark text pixels
    assert below.min() < 100
    with pytest.raises(ValueError, match="labels"):
        image_grid(x, labels=["a"])


def test_to_uint8_and_save_png(tmp_path) -> None:
    assert to_uint8(np.array([0.0, 0.25, 1.5])).tolist() == [0, 64, 255]
    image = image_grid(torch.rand(4, 3, 5, 5), scale=2)
    path = save_png(image, tmp_path / "sub" / "grid.png")
    assert path.exists() and list(path.parent.iterdir()) == [path]  # no temp file left
    with Image.open(path) as back:
        assert np.array_equal(np.asarray(back), np.asarray(image))
