"""A unit's value over time as a strip under a picture of a sound (render/strip.py), and
the traces of a spectrogram network's map laid along the input's frames."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

import neuronscope as ns
from neuronscope.atlas.drawing import ExampleDrawer
from neuronscope.core.spec import InputSpec, attach_spec
from neuronscope.methods.examples.show import traces_table
from neuronscope.render.strip import trace_strips, varies, with_strips

F_, T_ = 8, 16
SPEC = InputSpec(shape=(1, F_, T_), kind="audio", value_range=(0.0, 1.0),
                 class_names=["a", "b"], extra={"sample_rate": 8000, "n_fft": 64, "hop": 16})


def test_a_strip_is_red_above_zero_blue_below_and_white_at_zero() -> None:
    s = trace_strips(torch.tensor([[2.0, 0.0, -2.0, -1.0]]), width=4, rows=3)
    assert s.shape == (1, 3, 3, 4) and torch.equal(s[0, :, 0], s[0, :, 2])  # every row alike
    red, white, blue, pale = s[0, :, 0].T.tolist()
    assert red[0] > 0.8 and red[1] < 0.2 and red[2] < 0.2
    assert white == [1.0, 1.0, 1.0]
    assert blue[2] > 0.8 and blue[0] < 0.2
    assert pale[2] > blue[2] and 0.55 < pale[0] < 0.6  # half as deep: 1 - (1 - 40/255) / 2
    pooled = trace_strips(torch.tensor([[1.0, 1.0, -1.0, -1.0]]), width=2, rows=1)
    assert pooled[0, 0, 0, 0] > 0.8 and pooled[0, 2, 0, 1] > 0.8  # each column its steps
    assert torch.allclose(trace_strips(torch.tensor([[1.0]]), 1, 1, vmax=4.0)[0, :, 0, 0],
                          trace_strips(torch.tensor([[0.25, 1.0]]), 2, 1)[0, :, 0, 0])


def test_the_line_rises_where_a_unit_that_never_nears_zero_rises() -> None:
    s = trace_strips(torch.tensor([[1.0, 1.0, 1.1, 1.0]]), width=4, rows=5)
    dark = (s[0].sum(0) < 1.0).nonzero().tolist()  # (row, column) of the line's pixels
    assert sorted(dark, key=lambda rc: rc[1]) == [[4, 0], [4, 1], [0, 2], [4, 3]]
    assert float(s[0, 0, 2, 0]) > 0.8  # elsewhere the colour: red, deep (near the largest)


@pytest.mark.parametrize("traces", [None, torch.ones(3, 10), torch.zeros(2, 0)])
def test_no_strip_where_nothing_changes_over_time(traces: torch.Tensor | None) -> None:
    images = torch.rand(3, 3, 16, 10)
    assert not varies(traces)
    assert with_strips(images, traces) is images


def step_net(pool: int) -> nn.Module:
    """A spectrogram network whose unit 0 is the input's loudness (the bands' sum), kept
    at every frame or pooled over `pool` frames."""
    conv = nn.Conv2d(1, 2, 1)
    with torch.no_grad():
        conv.weight.fill_(1.0)
        conv.weight[1] = -1.0
        conv.bias.zero_()
    return attach_spec(nn.Sequential(OrderedDict([
        ("conv", conv), ("pool", nn.AvgPool2d((1, pool))), ("flat", nn.Flatten()),
        ("fc", nn.LazyLinear(2))])).eval(), SPEC)


def sounds() -> TensorDataset:
    """Eight spectrograms, each loud in one stretch of frames (a later one each)."""
    x = torch.zeros(8, 1, F_, T_)
    for i in range(8):
        x[i, 0, :, 2 * i:2 * i + 2] = 1.0
    data = TensorDataset(x, torch.arange(8) % 2)
    data.spec = SPEC  # type: ignore[attr-defined]
    return data


@pytest.mark.parametrize("pool", [1, 4])
def test_a_maps_traces_are_its_mean_over_the_bands_along_the_frames(pool: int) -> None:
    model, data = step_net(pool), sounds()
    model(data.tensors[0][:1])  # the lazy layer takes its shape
    res = ns.top_examples(model, data, layers=["pool"], k=2, progress=False)
    t = traces_table(model, data, res["pool"], [0, 1], [3, 6])
    assert t.shape == (2, 2, T_)
    expected = torch.nn.functional.avg_pool2d(data.tensors[0][[3, 6]], (1, pool)).mean(2)
    expected = expected.repeat_interleave(pool, dim=-1)  # each value over its frames
    assert torch.allclose(t[:, 0], expected[:, 0]) and torch.allclose(t[:, 1], -expected[:, 0])


def test_the_strip_shows_where_in_the_sound_the_unit_fired() -> None:
    model, data = step_net(1), sounds()
    model(data.tensors[0][:1])
    res = ns.top_examples(model, data, layers=["conv"], k=8, reduce="mean", progress=False)
    drawer = ExampleDrawer(model, data, res["conv"])
    assert drawer.kind.name == "audio" and "the strip under each" in drawer.where()
    shown = drawer.shown(0)
    picture = np.asarray(drawer.kind.examples(shown)).astype(int)
    plain = np.asarray(drawer.kind.examples(
        type(shown)(**{**shown.__dict__, "traces": None}))).astype(int)
    assert picture.shape[0] > plain.shape[0]  # a strip added under the pictures
    first = shown.indices[0]  # loud in frames 2 * first, 2 * first + 1 only
    red = (picture[..., 0] > 200) & (picture[..., 1] < 100)
    columns = np.nonzero(red.any(0))[0]
    scale = -(-96 // T_)  # spectrogram_grid's: at least 96 pixels wide
    inside = [2 + (2 * first + 0.5) * scale, 2 + (2 * first + 1.5) * scale]  # its frames
    assert red.any() and all(np.any(np.abs(columns - c) < scale / 2) for c in inside)
    tile = columns[columns < 2 + T_ * scale]  # the first example's tile
    assert tile.min() >= 2 + 2 * first * scale - 1 and tile.max() <= 2 + (2 * first + 2) * scale


def test_a_strided_layer_on_an_odd_number_of_frames_is_laid_where_it_fired() -> None:
    """Stride 2, padded, on 15 frames: 8 positions, each centred on an even frame (not
    the middle half of the clip, as centring a shorter layer would draw it)."""
    conv = nn.Conv2d(1, 1, (1, 3), stride=(1, 2), padding=(0, 1))
    with torch.no_grad():
        conv.weight.fill_(1.0)
        conv.bias.zero_()
    spec = InputSpec(shape=(1, F_, 15), kind="audio", value_range=(0.0, 1.0))
    model = attach_spec(nn.Sequential(OrderedDict([("conv", conv)])).eval(), spec)
    x = torch.zeros(3, 1, F_, 15)
    for i, frame in enumerate([1, 7, 13]):
        x[i, 0, :, frame] = 1.0
    res = ns.top_examples(model, x, layers=["conv"], k=3, progress=False)
    drawer = ExampleDrawer(model, x, res["conv"])
    assert drawer.how.field is not None and drawer.how.field.stride[-1] == 2
    t = drawer.shown(0).traces
    for row, i in zip(t, drawer.shown(0).indices, strict=True):
        frame, high = [1, 7, 13][i], torch.nonzero(row == row.max()).flatten()
        assert row[frame] == row.max() and int((high - frame).abs().max()) <= 2


def test_a_layer_without_positions_draws_no_strip_and_says_none() -> None:
    model, data = step_net(1), sounds()
    model(data.tensors[0][:1])
    res = ns.top_examples(model, data, layers=["fc"], k=2, progress=False)
    drawer = ExampleDrawer(model, data, res["fc"])
    assert drawer.where() == "whole spectrograms"  # no strip is drawn: none is promised
    assert not varies(drawer.shown(0).traces)
