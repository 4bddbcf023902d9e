"""Spectrograms made audible (`neuronscope.render.sound`) for models the tones net is not:
values in decibels rather than [0, 1], two channels, settings that cannot be inverted (shown
without sound, saying why), and the live page's picture of a decibel model's input."""

from __future__ import annotations

import base64
import io
import logging

import numpy as np
import pytest
import torch
from PIL import Image

from neuronscope.core.audio import spectrogram
from neuronscope.core.spec import InputSpec
from neuronscope.render.kinds.audio import AudioKind
from neuronscope.render.sound import SilentError, spectrogram_to_waveform, wav_bytes
from neuronscope.web.decoders import Limits, decoder_for

EXTRA = {"sample_rate": 8000, "n_fft": 256, "hop": 64,
         "band_edges": np.linspace(50.0, 3900.0, 18).tolist()}


def chirp() -> torch.Tensor:
    t = torch.arange(8000) / 8000
    return 0.5 * torch.sin(2 * torch.pi * (300 + 1500 * t) * t)


def spec(value_range: tuple[float, float] = (0.0, 1.0), channels: int = 1, **extra
         ) -> InputSpec:
    return InputSpec((channels, 16, 126), kind="audio", value_range=value_range,
                     extra={**EXTRA, **extra})


def test_a_decibel_model_sounds_as_its_zero_one_twin() -> None:
    unit = spectrogram(chirp(), spec())  # [1, 16, 126] in [0, 1]
    db = -80.0 + 80.0 * unit  # the same spectrogram in dB, as a model in [-80, 0] takes it
    a = spectrogram_to_waveform(unit, spec(), iters=8)
    b = spectrogram_to_waveform(db, spec((-80.0, 0.0)), iters=8)
    assert float(a.abs().max()) > 0.05 and torch.allclose(a, b, atol=1e-5)


def test_two_channels_are_heard_and_drawn_as_their_mean() -> None:
    unit = spectrogram(chirp(), spec())
    both = torch.cat([unit, unit])
    a = spectrogram_to_waveform(unit, spec(), iters=4)
    assert torch.allclose(spectrogram_to_waveform(both, spec(channels=2), iters=4), a, atol=1e-5)
    picture = AudioKind().stimulus(both, spec(channels=2))
    assert picture.size[1] >= 16


@pytest.mark.parametrize(("extra", "why"), [
    ({"band_edges": None}, r"16 rows, which are neither bands .* nor the STFT's 129 bins"),
    ({"band_edges": [100.0, 200.0, 300.0]}, r"3 band_edges make 1 bands, but .* 16 rows"),
    ({"hop": 256}, r"do not overlap"),
])
def test_settings_that_cannot_be_inverted_say_why(extra, why, caplog) -> None:
    bad = spec(**extra)
    with pytest.raises(SilentError, match=why):
        spectrogram_to_waveform(torch.rand(1, 16, 126), bad)
    with caplog.at_level(logging.WARNING):
        assert AudioKind().stimulus_media(torch.rand(1, 16, 126), bad) == []
    assert "shown without sound" in caplog.text


def test_a_spec_without_settings_is_silent_not_a_crash() -> None:
    bare = InputSpec((1, 65, 63), kind="audio")
    with pytest.raises(SilentError, match="lack sample_rate"):
        spectrogram_to_waveform(torch.rand(1, 65, 63), bare)
    assert AudioKind().stimulus_media(torch.rand(1, 65, 63), bare) == []


def test_the_live_picture_of_a_decibel_model_is_not_flat() -> None:
    db = spec((-80.0, 0.0), n_samples=8000)
    decoded = decoder_for("audio").decode(wav_bytes(chirp(), 8000), db, Limits())
    png = base64.b64decode(decoded.shown["picture"].split(",", 1)[1])
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float64)
    assert pixels.std() > 20  # the chirp shows: before, every pixel was one colour


def test_the_visualize_command_draws_spectrograms_the_right_way_up(tmp_path) -> None:
    from collections import OrderedDict

    from torch import nn

    import neuronscope as ns
    from neuronscope.core.spec import attach_spec
    from neuronscope.render.featvis import save_pngs

    torch.manual_seed(0)
    model = attach_spec(nn.Sequential(OrderedDict([("conv", nn.Conv2d(1, 2, 3))])).eval(),
                        spec())
    vis = ns.visualize(model, "conv:0", steps=2, progress=False)
    folder = tmp_path / "new" / "out"  # not there yet: made before the clips are written
    save_pngs(vis, folder, spec())
    png, wav = sorted(folder.glob("000-*.png")), sorted(folder.glob("000-*.wav"))
    assert len(png) == 1 and len(wav) == 1 and wav[0].read_bytes()[:4] == b"RIFF"
    assert Image.open(png[0]).mode == "RGB"  # coloured by the audio kind, not grey
    with Image.open(png[0]) as drawn:
        assert drawn.size[0] >= 126 and drawn.size[1] >= 16


def test_first_layer_filters_of_a_sound_model_are_drawn_low_bands_at_the_bottom() -> None:
    from torch import nn

    from neuronscope.core.layers import layers
    from neuronscope.core.spec import attach_spec
    from neuronscope.render.weights import weight_pictures

    conv = nn.Conv2d(1, 1, 3, bias=False)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0, 0, :] = 1.0  # the filter's row 0: the lowest band it sees
    for kind in ("audio", "image"):
        shape = (1, 16, 126) if kind == "audio" else (1, 16, 16)
        model = attach_spec(nn.Sequential(conv), InputSpec(shape, kind=kind, extra=EXTRA))
        (_, _, picture), = weight_pictures(model, layers(model))
        gray = np.asarray(picture.convert("L"), dtype=np.float64)
        third = len(gray) // 3
        top, bottom = gray[:third].mean(), gray[-third:].mean()
        assert (bottom > top) if kind == "audio" else (top > bottom), (kind, top, bottom)


def test_the_live_page_takes_a_sound_for_a_two_channel_model() -> None:
    stereo = spec(channels=2, n_samples=8000)
    decoded = decoder_for("audio").decode(wav_bytes(chirp(), 8000), stereo, Limits())
    assert tuple(decoded.x.shape) == (2, 16, 126)
    assert torch.equal(decoded.x[0], decoded.x[1])
