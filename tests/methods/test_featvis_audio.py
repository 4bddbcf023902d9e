"""Feature visualization of spectrogram models: the same machinery as for images, with the
transforms of a spectrogram (shifts in time and by a band, never rotation or scaling)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import neuronscope as ns
from neuronscope.core.spec import InputSpec, attach_spec
from neuronscope.methods.featvis.transform import Shift, apply, parse, spectrogram, standard

SHAPE = (1, 16, 20)  # one channel, 16 bands, 20 frames


def audio_spec(shape: tuple[int, ...] = SHAPE) -> InputSpec:
    return InputSpec(shape=shape, kind="audio", extra={"sample_rate": 8000, "n_fft": 256,
                                                       "hop": 64})


def onset_net() -> nn.Module:
    """conv 0: channel 0 answers a rise in time (an onset), channel 1 a rise across bands
    (a tone's lower edge); then a ReLU."""
    conv = nn.Conv2d(1, 2, 3, padding=1)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0, :, 0], conv.weight[0, 0, :, 2] = -1.0, 1.0
        conv.weight[1, 0, 0, :], conv.weight[1, 0, 2, :] = -1.0, 1.0
        conv.bias.zero_()
    return attach_spec(nn.Sequential(conv, nn.ReLU()).eval(), audio_spec())


def test_a_spectrogram_model_is_visualized_with_shifts_only() -> None:
    vis = ns.visualize(onset_net(), ["0:0", "0:1"], steps=24, lr=0.2, progress=False)
    assert vis.display.shape == (2, 1, 16, 20) and vis.images.shape == (2, 1, 16, 20)
    used = vis.settings["transforms"]
    assert used == [repr(s) for s in spectrogram((16, 20))] and used
    assert all(s.startswith("Shift(") for s in used)  # no Rotate, Scale or Pad
    assert 0 <= float(vis.images.min()) and float(vis.images.max()) <= 1  # the value range


def test_the_unit_rises_above_its_flat_and_noise_starts() -> None:
    model = onset_net()
    start = ns.visualize(model, "0:0", steps=0, progress=False).activations[0]
    found = ns.visualize(model, "0:0", steps=32, lr=0.2, progress=False)
    with torch.no_grad(), ns.record(model, ["0"]) as rec:
        model(torch.full((1, *SHAPE), 0.5))
    flat = rec["0"][0, 0].mean()
    assert found.activations[0] > max(float(start), float(flat)) + 0.1
    row = found.display[0, 0].mean(0)  # mean over bands, per frame: an onset rises in time
    assert row[-3:].mean() > row[:3].mean()


def test_standard_means_the_input_kinds_own_set() -> None:
    assert parse("standard", (16, 20), kind="audio") == spectrogram((16, 20))
    assert parse("standard", (16, 20), kind="image") == standard(20)
    assert parse("standard", 64) == standard(64)  # as before: one side
    assert any("Rotate" in repr(s) for s in parse("image", (16, 20), kind="audio"))  # asked
    with pytest.raises(ValueError, match="'spectrogram'"):
        parse("wobbly", (16, 20))


def shifted(x: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    """`x` [1, 1, H, W] moved down `rows` and right `cols`, zeros where nothing came."""
    out = torch.zeros_like(x)
    h, w = x.shape[-2:]
    out[..., max(rows, 0):h + min(rows, 0), max(cols, 0):w + min(cols, 0)] = \
        x[..., max(-rows, 0):h + min(-rows, 0), max(-cols, 0):w + min(-cols, 0)]
    return out


def test_a_shift_moves_whole_bands_and_frames() -> None:
    x = torch.arange(1.0, 1 + 4 * 6).view(1, 1, 4, 6)
    seen = set()
    for seed in range(12):
        y = apply(x, [Shift(1, 2)], [torch.Generator().manual_seed(seed)], fill=0.0)
        match = [(r, c) for r in range(-1, 2) for c in range(-2, 3)
                 if torch.allclose(y, shifted(x, r, c), atol=1e-4)]
        assert len(match) == 1  # a whole number of bands and frames, nothing interpolated
        seen.add(match[0])
    assert len(seen) > 3


def test_text_and_waveform_models_are_refused_clearly() -> None:
    text = attach_spec(nn.Sequential(nn.Embedding(5, 3)), InputSpec(shape=(4,), kind="text"))
    with pytest.raises(ns.NeuronscopeError, match="takes text input"):
        ns.visualize(text, "0:0", steps=1, progress=False)
    wave = attach_spec(nn.Sequential(nn.Conv1d(1, 2, 5)), audio_spec((1, 800)))
    with pytest.raises(ns.NeuronscopeError, match=r"audio input of shape \[1, 800\]"):
        ns.visualize(wave, "0:0", steps=1, progress=False)
