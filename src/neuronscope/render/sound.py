"""Spectrograms made audible, and WAV files: `spectrogram_to_waveform` (Griffin-Lim phase
recovery, by the model's InputSpec), `wav_bytes` / `write_wav` (mono 16-bit PCM, written
with the standard library's `wave`: every browser plays them in an ``<audio>`` element),
and the HTML that plays them.

A spectrogram is read as `neuronscope.core.audio.settings` reads the spec (sample rate,
n_fft, hop, band edges, dB floor and reference, clip length): values are first brought
from the spec's value range to [0, 1] (0 the dB floor, 1 the reference), several channels
are mixed by their mean, and each band's power is spread over its STFT bins. A spectrogram
that cannot be inverted (settings missing, rows that are neither the bands nor the STFT's
n_fft / 2 + 1 bins, frames that do not overlap) raises a `SilentError` that says why;
callers show such inputs without sound.
"""

from __future__ import annotations

import base64
import html
import io
import math
import wave
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core.audio import band_filters, settings

__all__ = ["SilentError", "clip_html", "data_uri", "spectrogram_to_waveform", "wav_bytes",
           "write_wav"]


class SilentError(ValueError):
    """A spectrogram that cannot be made audible by its model's settings."""


def _power(x: torch.Tensor, spec: Any, s: dict[str, Any]) -> torch.Tensor:
    """The STFT power [n_fft // 2 + 1, frames] that `x` [C, F, T] stands for."""
    lo, hi = getattr(spec, "value_range", None) or (0.0, 1.0)
    v = ((x.detach().double() - lo) / max(hi - lo, 1e-12)).clamp(0, 1)
    v = v.reshape(-1, x.shape[-2], x.shape[-1]).mean(0)  # channels mixed
    power = float(s["db_ref"]) * 10.0 ** (float(s["db_floor"]) * (1.0 - v) / 10.0)
    power = torch.where(v > 0, power, torch.zeros_like(power))
    n_fft, edges, rows = int(s["n_fft"]), s["band_edges"], x.shape[-2]
    if edges is None:
        if rows != n_fft // 2 + 1:
            raise SilentError(f"the spectrogram has {rows} rows, which are neither bands (the "
                              f"audio settings give no band_edges) nor the STFT's "
                              f"{n_fft // 2 + 1} bins (n_fft {n_fft})")
        return power
    if len(edges) != rows + 2:
        raise SilentError(f"{len(edges)} band_edges make {len(edges) - 2} bands, but the "
                          f"spectrogram has {rows} rows")
    fb = band_filters(edges, n_fft, int(s["sample_rate"]))  # spread each band over its bins
    density = power / fb.sum(1, keepdim=True).clamp(min=1e-12)
    weight = fb.sum(0)
    power = (fb.T @ density) / weight.clamp(min=1e-12)[:, None]
    return torch.where(weight[:, None] > 0, power, torch.zeros_like(power))


def spectrogram_to_waveform(x: torch.Tensor, spec: Any, iters: int = 32, seed: int = 0
                            ) -> torch.Tensor:
    """A waveform float32 [n_samples] whose spectrogram is close to `x` [C, F, T] (values
    in the spec's value range; Griffin-Lim, `iters` rounds, phases started from `seed`),
    peak at most 0.99; a `SilentError` when the spec's settings cannot invert it.

    Example:
        >>> from neuronscope.core.spec import InputSpec
        >>> spec = InputSpec((1, 3, 9), kind="audio", extra={"sample_rate": 8000, "n_fft": 64,
        ...     "hop": 16, "band_edges": [100, 500, 1000, 2000, 3000]})
        >>> spectrogram_to_waveform(torch.rand(1, 3, 9), spec, iters=2).shape
        torch.Size([128])
    """
    try:
        s = settings(spec)
    except ValueError as exc:
        raise SilentError(str(exc)) from exc
    mag = _power(x, spec, s).sqrt()
    n_fft, hop, center = int(s["n_fft"]), int(s["hop"]), bool(s["center"])
    if hop >= n_fft:
        raise SilentError(f"frames {hop} samples apart that are {n_fft} long do not overlap: "
                          "no waveform can be found for them (hop must be under n_fft)")
    n_samples = int(s["n_samples"] or hop * (mag.shape[-1] - 1))
    window = torch.hann_window(n_fft, dtype=torch.float64)
    g = torch.Generator().manual_seed(seed)
    angles = torch.polar(torch.ones_like(mag), 2 * math.pi * torch.rand(mag.shape, generator=g,
                                                                        dtype=torch.float64))
    signal = torch.zeros(n_samples, dtype=torch.float64)
    for _ in range(max(1, iters)):
        signal = torch.istft(mag * angles, n_fft, hop, window=window, length=n_samples,
                             center=center)
        rebuilt = torch.stft(signal, n_fft, hop, window=window, return_complex=True,
                             center=center)
        angles = rebuilt / rebuilt.abs().clamp(min=1e-12)
    peak = float(signal.abs().max()) if signal.numel() else 0.0
    if peak > 0.99:
        signal = signal * (0.99 / peak)
    return signal.to(torch.float32)


def wav_bytes(waveform: torch.Tensor | np.ndarray, sample_rate: int) -> bytes:
    """A mono 16-bit PCM WAV file of `waveform` (values in [-1, 1]; clipped beyond).

    Example:
        >>> data = wav_bytes(torch.zeros(800), 8000)
        >>> data[:4], data[8:12], len(data)
        (b'RIFF', b'WAVE', 1644)
    """
    w = torch.as_tensor(waveform).detach().double().reshape(-1).cpu()
    if not torch.isfinite(w).all():
        raise ValueError("the waveform holds NaN or infinite values")
    pcm = (w.clamp(-1.0, 1.0) * 32767.0).round().to(torch.int16).numpy().astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(int(sample_rate))
        out.writeframes(pcm.tobytes())
    return buf.getvalue()


def write_wav(path: str | Path, waveform: torch.Tensor | np.ndarray, sample_rate: int) -> Path:
    """Write `waveform` as a mono 16-bit PCM WAV file; returns the path."""
    path = Path(path)
    path.write_bytes(wav_bytes(waveform, sample_rate))
    return path


def clip_html(image_src: str, audio_src: str, title: str = "") -> str:
    """An HTML fragment: a spectrogram image above an ``<audio controls>`` element that
    plays `audio_src` (a URL or a ``data:`` URI, see :func:`data_uri`).

    Example:
        >>> "<audio controls" in clip_html("a.png", "a.wav", "unit 3")
        True
    """
    caption = f"<div class='muted'>{html.escape(title)}</div>" if title else ""
    return (f"<figure class='clip'>{caption}<img src='{html.escape(image_src, quote=True)}' "
            f"alt='spectrogram'><br><audio controls preload='metadata' "
            f"src='{html.escape(audio_src, quote=True)}'></audio></figure>")


def data_uri(data: bytes, mime: str) -> str:
    """`data` as a ``data:`` URI (for self-contained pages)."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
