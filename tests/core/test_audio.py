"""Sound as a model hears it: the spectrogram made from an InputSpec's settings (the one
implementation, which the tones dataset uses too), resampling, fitting a clip's length."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neuronscope.core.audio import fit_clip, fit_length, resample, settings, spectrogram
from neuronscope.core.spec import InputSpec
from neuronscope.data import tones
from neuronscope.data.base import locate


def peak_hz(wave: np.ndarray, rate: float) -> float:
    """The frequency of the strongest FFT bin (Hann-windowed, 8x zero-padded)."""
    n = len(wave)
    spectrum = np.abs(np.fft.rfft(wave * np.hanning(n), 8 * n))
    return float(np.argmax(spectrum) * rate / (8 * n))


def old_log_mel(wave: np.ndarray) -> torch.Tensor:
    """tones.log_mel as it was before it called core.audio.spectrogram."""
    w = torch.as_tensor(wave, dtype=torch.float64)
    spec = torch.stft(w.reshape(-1, tones.N_SAMPLES), tones.N_FFT, tones.HOP,
                      window=torch.hann_window(tones.N_FFT, dtype=torch.float64),
                      center=True, return_complex=True)
    power = spec.real.square() + spec.imag.square()
    db = 10.0 * torch.log10(torch.matmul(tones.mel_filterbank(), power) / tones.DB_REF + 1e-12)
    x = ((db - tones.DB_FLOOR) / -tones.DB_FLOOR).clamp(0.0, 1.0).to(torch.float32)
    return x.unsqueeze(1)[0]


def test_log_mel_is_the_spectrogram_of_the_tones_spec_bit_for_bit() -> None:
    ds = tones.Tones("test", n=12)
    exact = {**tones.tones_spec().extra, "band_edges": tones.band_edges().tolist()}
    for i in range(len(ds)):
        wave, _ = ds._clip(*locate(ds._parts, i))
        x = tones.log_mel(wave)
        assert torch.equal(x, spectrogram(wave, exact))  # one implementation
        assert torch.equal(x, old_log_mel(wave))  # the dataset did not change
        assert torch.equal(x, ds[i][0])
        # the spec as the server reads it: its band edges are rounded to 0.1 mHz
        served = spectrogram(wave, tones.tones_spec())
        assert served.shape == (1, 64, 63) and (served - x).abs().max() < 1e-4
    batch = torch.stack([ds.waveform(i).double() for i in range(6)])
    assert torch.equal(tones.log_mel(batch), spectrogram(batch, exact))


def test_spectrogram_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="lack hop"):
        spectrogram(np.zeros(100), {"sample_rate": 8000, "n_fft": 64})
    with pytest.raises(ValueError, match="window 'hamming'"):
        settings({"sample_rate": 8000, "n_fft": 64, "hop": 16, "window": "hamming"})
    bins = spectrogram(np.zeros(160), {"sample_rate": 8000, "n_fft": 64, "hop": 16})
    assert bins.shape == (1, 33, 11) and float(bins.max()) == 0.0  # no bands: STFT bins


@pytest.mark.parametrize(("src", "dst"), [(44100, 8000), (8000, 22050), (48000, 16000),
                                          (11025, 8000)])
def test_resample_keeps_a_sine_and_the_duration(src: int, dst: int) -> None:
    t = np.arange(int(0.75 * src)) / src
    y = resample(0.5 * np.sin(2 * np.pi * 440 * t), src, dst)
    assert len(y) == round(len(t) * dst / src)
    assert abs(peak_hz(y, dst) - 440) < 2
    assert abs(np.abs(y).max() - 0.5) < 0.03  # its level kept


def test_resample_drops_what_the_new_rate_cannot_hold() -> None:
    t = np.arange(44100) / 44100
    high = np.sin(2 * np.pi * 6000 * t)  # above 4 kHz, the Nyquist frequency of 8 kHz
    assert np.abs(resample(high, 44100, 8000)).max() < 1e-6  # gone, not aliased to 2 kHz
    assert len(resample(np.zeros(0), 44100, 8000)) == 0
    assert resample(np.ones(5), 8000, 8000).tolist() == [1.0] * 5


def test_fit_length_and_fit_clip() -> None:
    wave = np.r_[np.zeros(500), np.ones(50), np.zeros(500)]
    y, start = fit_length(wave, 100)
    assert start == 450 and y.sum() == 50  # the loudest window holds the whole burst
    y, start = fit_length(wave, 100, "first")
    assert start == 0 and y.sum() == 0
    assert fit_length(np.zeros(10), 10)[1] == 0
    with pytest.raises(ValueError, match="loudest"):
        fit_length(wave, 10, "middle")
    rate = 22050
    t = np.arange(3 * rate) / rate
    tone = 0.3 * np.sin(2 * np.pi * 1000 * t) * ((t >= 1.25) & (t < 2.0))
    y, start = fit_clip(tone, rate, 8000, 8000)
    assert len(y) == 8000 and 1.0 - 1e-3 <= start <= 1.25
    assert abs(peak_hz(y, 8000) - 1000) < 3
    short, start = fit_clip(tone[:rate // 2], rate, 8000, 8000)
    assert len(short) == 8000 and start == 0 and not short[4000:].any()  # zero-padded


def speech_spec(**extra: object) -> InputSpec:
    """The trial's spec: 16 kHz, n_fft 400, hop 160, 40 bands, 201 frames."""
    edges = np.linspace(0, 8000, 42).tolist()
    return InputSpec((1, 40, 201), kind="audio", extra={
        "sample_rate": 16000, "n_fft": 400, "hop": 160, "band_edges": edges, **extra})


def test_the_clip_length_comes_from_the_shape_without_n_samples() -> None:
    from neuronscope.render.kinds.audio import wav_bytes
    from neuronscope.web.sounds import audio_tensor
    spec = speech_spec()
    assert settings(spec)["n_samples"] == 32000  # 160 * (201 - 1), centred
    wave = 0.3 * torch.sin(2 * torch.pi * 440 * torch.arange(3 * 16000) / 16000)
    x, info = audio_tensor(wav_bytes(wave, 16000), spec)
    assert tuple(x.shape) == (1, 40, 201) and len(info["clip"]) == 32000
    assert tuple(spectrogram(np.zeros(32000), spec).shape) == (1, 40, 201)
    # not centred: frames = 1 + (n - n_fft) // hop
    flat = speech_spec(center=False)
    assert settings(flat)["n_samples"] == 400 + 160 * 200
    x, _ = audio_tensor(wav_bytes(wave, 16000), flat)
    assert tuple(x.shape) == (1, 40, 201)
    # one frame: the shortest clip there is; an extra dict alone says nothing of a length
    assert settings(InputSpec((1, 40, 1), kind="audio", extra=spec.extra))["n_samples"] >= 1
    assert settings({"sample_rate": 8000, "n_fft": 64, "hop": 16})["n_samples"] is None


def test_n_samples_that_disagrees_with_the_shape_is_refused() -> None:
    assert settings(speech_spec(n_samples=32000))["n_samples"] == 32000
    assert settings(speech_spec(n_samples=32159))["n_samples"] == 32159  # still 201 frames
    for wrong in (16000, 32160):
        with pytest.raises(ValueError, match=rf"n_samples {wrong} makes \d+ frames.*"
                                             r"\(1, 40, 201\) has 201.*n_samples 32000"):
            settings(speech_spec(n_samples=wrong))
    assert settings(tones.tones_spec())["n_samples"] == tones.N_SAMPLES  # 8000: 63 frames
