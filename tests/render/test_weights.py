import numpy as np
import pytest
import torch
from torch import nn

from neuronscope.render.weights import (
    filter_grid,
    linear_templates,
    weight_heatmap,
    weight_image,
)


def test_filter_grid_rgb_gray_and_pairs() -> None:
    rgb = filter_grid(torch.randn(6, 3, 5, 5), scale=4)
    assert rgb.mode == "RGB" and rgb.size == (3 * 21 + 1, 2 * 21 + 1)
    assert np.asarray(rgb)[0, 0].tolist() == [255] * 3  # colour tiles: white gaps
    gray = filter_grid(torch.randn(4, 1, 3, 3), scale=2)  # gray tiles, in RGB for the lattice
    assert gray.mode == "RGB" and gray.size == (2 * 7 + 1, 2 * 7 + 1)
    pairs = filter_grid(torch.randn(4, 5, 3, 3), scale=2)  # a row per filter, a column per input
    assert pairs.mode == "RGB" and pairs.size == (5 * 7 + 1, 4 * 7 + 1)
    capped = filter_grid(torch.randn(100, 20, 3, 3), scale=1, max_tiles=(64, 16))
    assert capped.size == (16 * 4 + 1, 64 * 4 + 1)
    assert filter_grid(torch.randn(3, 2, 7), scale=1).size == (2 * 8 + 1, 3 * 2 + 1)  # Conv1d


def test_filter_grid_symmetric_per_filter() -> None:
    w = torch.zeros(2, 5, 1, 2)
    w[0, 0] = torch.tensor([[-1.0, 0.0]])
    w[1, 4] = torch.tensor([[0.0, 100.0]])
    a = np.asarray(filter_grid(w, scale=1, pad=0))
    assert a.shape == (2, 10, 3) and (a == a[..., :1]).all()  # gray levels
    a = a[..., 0]
    assert a[0, :2].tolist() == [0, 128]  # filter 0: its own scale (max |w| = 1)
    assert a[1, 8:].tolist() == [128, 255]  # filter 1: max |w| = 100
    assert (a[0, 2:] == 128).all() and (a[1, :8] == 128).all()  # zeros are mid-gray


def test_saturated_weights_are_never_the_colour_of_the_gaps() -> None:
    w = torch.tensor([[[[1.0, -1.0], [0.0, 1.0]]]]).repeat(2, 1, 1, 1)  # white, black, gray
    a = np.asarray(filter_grid(w, scale=1, pad=1))
    gaps, tile = a[0], a[1:3, 1:3]
    assert (gaps == gaps[0]).all() and (tile == tile[..., :1]).all()  # a colour; gray tiles
    assert gaps[0].tolist() not in tile.reshape(-1, 3).tolist()
    assert tile[0, 0].tolist() == [255] * 3 and tile[0, 1].tolist() == [0] * 3
    t = np.asarray(linear_templates(torch.tensor([[1.0, -1.0, 0.5, 0.0]]), (1, 2, 2)))
    assert t[0, 0].tolist() not in [[0] * 3, [255] * 3]


def test_template_pattern_lands_at_the_right_pixels() -> None:
    c, h, w = 3, 4, 5
    weight = torch.zeros(2, c * h * w)
    template = weight[1].view(c, h, w)
    template[0, 1, 3] = 1.0  # red at row 1, column 3 of class 1
    template[2, 3, 0] = -1.0  # blue at row 3, column 0; min-max: -1 -> 0, 0 -> 128, 1 -> 255
    a = np.asarray(linear_templates(weight, (c, h, w), scale=2))
    assert a.shape == (1 * (h * 2 + 1) + 1, 2 * (w * 2 + 1) + 1, 3)
    top, left = 1, 1 + (w * 2 + 1)  # second tile
    tile = a[top:top + h * 2, left:left + w * 2]
    assert tile[2:4, 6:8, 0].tolist() == [[255, 255], [255, 255]]  # the red pixel, upscaled
    assert tile[6:8, 0:2, 2].tolist() == [[0, 0], [0, 0]]
    assert (tile[..., 0] == 255).sum() == 4 and (tile[..., 2] == 0).sum() == 4
    assert (a[top:top + h * 2, 1:1 + w * 2] == 128).all()  # class 0: all zero -> constant gray


def test_template_mismatch_error() -> None:
    with pytest.raises(ValueError) as err:
        linear_templates(torch.randn(10, 100), (3, 8, 8))
    text = str(err.value)
    assert "100" in text and "192" in text and "sees the input directly" in text


def test_templates_with_class_names() -> None:
    weight = torch.randn(3, 2 * 6)
    plain = linear_templates(weight, (2, 6), scale=4)
    named = linear_templates(weight, (2, 6), class_names=["cat", "dog", "car"], scale=4)
    assert plain.mode == "RGB" and named.size[0] == plain.size[0]
    assert named.size[1] > plain.size[1]


def test_weight_image_dispatch() -> None:
    assert weight_image(nn.Conv2d(3, 8, 5)).size == filter_grid(torch.zeros(8, 3, 5, 5)).size
    assert weight_image(nn.ConvTranspose2d(4, 2, 3)).size == filter_grid(
        torch.zeros(2, 4, 3, 3)).size
    lin = nn.Linear(3 * 4 * 4, 10)
    assert weight_image(lin, (3, 4, 4)).size == linear_templates(lin.weight, (3, 4, 4)).size
    heat = weight_image(lin, (3, 5, 5))  # no match: the matrix as a heatmap
    assert heat.mode == "RGB" and heat.size == (48 * 10, 10 * 10)
    with pytest.raises(ValueError, match="no weight"):
        weight_image(nn.ReLU())


def test_heatmap_diverging_colours() -> None:
    a = np.asarray(weight_heatmap(torch.tensor([[-1.0, 0.0, 1.0]]), scale=2))
    assert a.shape == (2, 6, 3)
    neg, zero, pos = a[0, 0].astype(int), a[0, 2].astype(int), a[0, 4].astype(int)
    assert neg[2] > neg[0] and pos[0] > pos[2]  # RdBu_r: negative blue, positive red
    assert zero.min() > 230  # zero is near white


def test_weight_image_labels_only_one_row_per_class() -> None:
    names = [str(d) for d in range(10)]
    classifier = weight_image(nn.Linear(64, 10), input_shape=(1, 8, 8), class_names=names)
    hidden = weight_image(nn.Linear(64, 100), input_shape=(1, 8, 8), class_names=names)
    unlabelled = weight_image(nn.Linear(64, 10), input_shape=(1, 8, 8))
    assert classifier.height > unlabelled.height  # a line of labels under the tiles
    assert hidden.mode == "RGB" and hidden.width >= 10 * 8 * 8  # templates, not a heatmap
