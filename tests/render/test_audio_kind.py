"""The audio input kind: spectrograms drawn with a colormap, clips written as WAV."""

from __future__ import annotations

import io
import math
import wave

import numpy as np
import pytest
import torch
from PIL import Image

import neuronscope as ns
from neuronscope.atlas.drawing import ExampleDrawer
from neuronscope.core.spec import attach_spec
from neuronscope.data.tones import SAMPLE_RATE, Tones, log_mel
from neuronscope.render.kinds import kind_for, kinds
from neuronscope.render.kinds.audio import (
    AudioKind,
    clip_html,
    colorize,
    spectrogram_image,
    spectrogram_to_waveform,
    wav_bytes,
    write_wav,
)
from neuronscope.zoo.recipes import tones_cnn


@pytest.fixture(scope="module")
def tones() -> Tones:
    return Tones("test", n=12)


def read(data: bytes) -> tuple[wave._wave_params, np.ndarray]:
    with wave.open(io.BytesIO(data), "rb") as w:
        return w.getparams(), np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


def test_registered_and_chosen_by_the_spec(tones: Tones) -> None:
    assert "audio" in kinds()
    x = tones[0][0]
    assert kind_for(tones.spec, x).name == "audio"
    assert kind_for(None, x).name == "image"  # without an audio spec: an image
    assert not AudioKind().accepts(tones.spec, torch.zeros(64, 63))


def test_colorize_puts_low_frequencies_at_the_bottom() -> None:
    x = torch.zeros(1, 8, 5)
    x[0, 0] = 1.0  # the lowest band loud
    rgb = colorize(x)
    assert rgb.shape == (3, 8, 5)
    assert float(rgb[:, -1].sum()) > float(rgb[:, 0].sum())
    assert spectrogram_image(x, scale=3).size == (15, 24)
    stereo = torch.stack([x[0], torch.zeros(8, 5)])  # two channels: drawn as their mean
    assert torch.equal(colorize(stereo), colorize(x / 2))
    with pytest.raises(ValueError, match=r"\[C, F, T\]"):
        colorize(torch.zeros(8, 5))


def test_examples_through_the_atlas_drawer(tones: Tones) -> None:
    torch.manual_seed(0)
    model = tones_cnn(6).eval()
    attach_spec(model, tones.spec)
    res = ns.top_examples(model, tones, layers=["conv4"], k=3, progress=False)
    drawer = ExampleDrawer(model, tones, res["conv4"])
    assert drawer.kind.name == "audio" and drawer.field is not None
    picture = drawer.unit(0)
    assert isinstance(picture, Image.Image) and picture.mode == "RGB"
    assert picture.width > 3 * 63
    outlined = np.asarray(picture)
    cyan = (outlined[..., 0] < 100) & (outlined[..., 1] == 255) & (outlined[..., 2] == 255)
    assert cyan.any()  # the receptive field's outline
    assert isinstance(drawer.samples([0, 1, 2, 3]), Image.Image)


def test_wav_bytes_is_16_bit_pcm() -> None:
    w = torch.tensor([0.0, 0.5, -0.5, 1.0, -2.0])
    params, pcm = read(wav_bytes(w, 8000))
    assert (params.nchannels, params.sampwidth, params.framerate, params.nframes) == \
        (1, 2, 8000, 5)
    assert pcm.tolist() == [0, 16384, -16384, 32767, -32767]  # clipped, symmetric
    with pytest.raises(ValueError, match="NaN"):
        wav_bytes(torch.tensor([float("nan")]), 8000)


def test_clip_of_a_dataset_item(tones: Tones, tmp_path) -> None:
    kind = AudioKind()
    params, pcm = read(kind.clip(tones[2][0], tones.spec, tones.waveform(2)))
    assert params.framerate == SAMPLE_RATE and params.nframes == 8000
    assert np.abs(pcm).max() > 1000
    path = write_wav(tmp_path / "a.wav", tones.waveform(2), SAMPLE_RATE)
    assert path.read_bytes()[:4] == b"RIFF"


def test_spectrogram_inversion_keeps_the_pitch(tones: Tones) -> None:
    t = torch.arange(8000, dtype=torch.float64) / SAMPLE_RATE
    x = log_mel(0.3 * torch.sin(2 * math.pi * 600 * t))
    w = spectrogram_to_waveform(x, tones.spec, iters=16)
    assert w.shape == (8000,) and float(w.abs().max()) <= 0.99 + 1e-6
    spectrum = torch.fft.rfft(w.double()).abs()
    peak_hz = float(spectrum.argmax()) * SAMPLE_RATE / 8000
    assert abs(peak_hz - 600) < 40
    assert float((log_mel(w) - x).abs().mean()) < 0.08
    params, _ = read(AudioKind().clip(x, tones.spec))  # no waveform: inverted
    assert params.nframes == 8000


def test_clip_html_escapes() -> None:
    html = clip_html("a.png", "b'.wav", "<unit>")
    assert "<audio controls" in html and "&lt;unit&gt;" in html and "b&#x27;.wav" in html
