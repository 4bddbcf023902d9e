"""Sound as a network sees it: the triangular band filters of a mel (or any banded)
spectrogram, shared by the data that makes spectrograms and the rendering that turns
them back into sound; the spectrogram itself, made from a waveform by the settings an
audio model's InputSpec carries in ``extra``; and the two steps that bring any clip to
those settings: `resample` (to the model's sample rate) and `fit_length` (to its number
of samples).

The settings (``InputSpec.extra`` of kind "audio"): ``sample_rate``, ``n_fft``, ``hop``,
``window`` ("hann"), ``center``, ``band_edges`` (Hz, n_bands + 2; without them the rows
are the STFT's own bins), ``db_floor`` and ``db_ref`` (power ``db_ref`` is 0 dB; values
are ``(dB - db_floor) / -db_floor`` clamped to [0, 1]) and ``n_samples`` (the clip length).
Without ``n_samples`` the length comes from the InputSpec's shape (1, bands, frames): the
shortest clip that makes that many frames (`samples_for`); given, it must make them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import torch

WINDOWS = ("hann",)
NEEDED = ("sample_rate", "n_fft", "hop")


def band_filters(edges: Sequence[float], n_fft: int, sample_rate: int) -> torch.Tensor:
    """Triangular band filters [n_bands, n_fft // 2 + 1] (float64) from `edges` (Hz,
    n_bands + 2): band k rises from edges[k] to 1 at edges[k + 1] and falls to edges[k + 2].

    Example:
        >>> band_filters([0, 1000, 2000, 3000], 8, 8000).shape
        torch.Size([2, 5])
    """
    e = torch.tensor(list(edges), dtype=torch.float64)
    freqs = torch.arange(n_fft // 2 + 1, dtype=torch.float64) * sample_rate / n_fft
    lo, mid, hi = e[:-2, None], e[1:-1, None], e[2:, None]
    return torch.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)).clamp(min=0)


@lru_cache(maxsize=8)
def _filters(edges: tuple[float, ...], n_fft: int, sample_rate: int) -> torch.Tensor:
    return band_filters(edges, n_fft, sample_rate)


def settings(spec: Any) -> dict[str, Any]:
    """The spectrogram settings of `spec` (an InputSpec, or its ``extra`` dict), checked:
    a ValueError names what is missing or unsupported, or an ``n_samples`` that would not
    make the frames of the InputSpec's shape. ``n_samples`` (the clip length) is always
    there: as given, else from an InputSpec's shape (`samples_for` its frames), else None.

    Example:
        >>> settings({"sample_rate": 8000, "n_fft": 64, "hop": 16})["window"]
        'hann'
        >>> from neuronscope.core.spec import InputSpec
        >>> settings(InputSpec((1, 40, 201), kind="audio", extra={"sample_rate": 16000,
        ...     "n_fft": 400, "hop": 160}))["n_samples"]
        32000
    """
    extra = spec if isinstance(spec, Mapping) else (getattr(spec, "extra", None) or {})
    missing = [k for k in NEEDED if k not in extra]
    if missing:
        raise ValueError(f"the audio settings lack {', '.join(missing)} (an audio InputSpec's "
                         f"extra needs {', '.join(NEEDED)}; see neuronscope.core.audio)")
    out = {"window": "hann", "center": True, "db_floor": -80.0, "db_ref": 1.0,
           "band_edges": None, **dict(extra)}
    if out["window"] not in WINDOWS:
        raise ValueError(f"window {out['window']!r} is not supported; use one of {WINDOWS}")
    n_fft, hop, center = int(out["n_fft"]), int(out["hop"]), bool(out["center"])
    shape = tuple(getattr(spec, "shape", None) or ()) if not isinstance(spec, Mapping) else ()
    given = out.get("n_samples")
    if len(shape) >= 2:  # an InputSpec: its shape says how many frames the model takes
        want = int(shape[-1])
        if given is None:
            out["n_samples"] = samples_for(want, n_fft, hop, center)
        elif frames_for(int(given), n_fft, hop, center) != want:
            made = frames_for(int(given), n_fft, hop, center)
            raise ValueError(
                f"the audio settings disagree: n_samples {int(given)} makes {made} frames "
                f"({_rule(center)}, n_fft {n_fft}, hop {hop}), but the InputSpec's shape "
                f"{shape} has {want}; give n_samples "
                f"{samples_for(want, n_fft, hop, center)} or leave it out")
    if out.get("n_samples") is not None:
        out["n_samples"] = int(out["n_samples"])
    else:
        out["n_samples"] = None  # unknown: an ``extra`` dict alone, without a shape
    return out


def frames_for(n_samples: int, n_fft: int, hop: int, center: bool = True) -> int:
    """The number of frames a clip of `n_samples` makes (torch.stft): ``1 + n // hop``
    centred, else ``1 + (n - n_fft) // hop``.

    Example:
        >>> frames_for(32000, 400, 160), frames_for(32000, 400, 160, center=False)
        (201, 198)
    """
    return 1 + n_samples // hop if center else 1 + (n_samples - n_fft) // hop


def samples_for(frames: int, n_fft: int, hop: int, center: bool = True) -> int:
    """The shortest clip that makes `frames` frames (the inverse of `frames_for`):
    ``hop * (frames - 1)`` centred (at least 1), else ``n_fft + hop * (frames - 1)``.

    Example:
        >>> samples_for(201, 400, 160), samples_for(198, 400, 160, center=False)
        (32000, 31920)
    """
    if frames < 1:
        raise ValueError(f"an audio input needs at least one frame, got {frames}")
    return max(1, hop * (frames - 1)) if center else n_fft + hop * (frames - 1)


def _rule(center: bool) -> str:
    return "1 + n_samples // hop, centred" if center else \
        "1 + (n_samples - n_fft) // hop, not centred"


def spectrogram(wave: torch.Tensor | np.ndarray, spec: Any) -> torch.Tensor:
    """The log-band spectrogram of a waveform [n] (or a batch [B, n]) at the spec's
    sample rate: float32 [1, bands, frames] (or [B, 1, bands, frames]) in [0, 1], by the
    settings of `spec` (an InputSpec of kind "audio", or its ``extra``): power STFT,
    band filters, ``10 log10(power / db_ref + 1e-12)``, scaled from ``db_floor`` (0) to
    0 dB (1). Computed in float64; any length (frames: n // hop + 1, centred).

    Example:
        >>> s = {"sample_rate": 8000, "n_fft": 64, "hop": 16, "db_ref": 256.0,
        ...      "band_edges": [100, 500, 1000, 2000, 3000]}
        >>> t = torch.arange(800) / 8000
        >>> x = spectrogram(0.1 * torch.sin(2 * torch.pi * 700 * t), s)
        >>> tuple(x.shape), x.dtype, round(float(x.max()), 2)
        ((1, 3, 51), torch.float32, 0.75)
    """
    s = settings(spec)
    n_fft, hop = int(s["n_fft"]), int(s["hop"])
    w = torch.as_tensor(wave, dtype=torch.float64)
    single = w.dim() == 1
    if w.dim() not in (1, 2) or w.shape[-1] < 1:
        raise ValueError(f"spectrogram needs a waveform [n] or a batch [B, n], got "
                         f"{tuple(w.shape)}")
    stft = torch.stft(w.reshape(-1, w.shape[-1]), n_fft, hop, window=torch.hann_window(
        n_fft, dtype=torch.float64), center=bool(s["center"]), return_complex=True)
    power = stft.real.square() + stft.imag.square()  # [B, bins, frames]
    if s["band_edges"] is not None:
        edges = tuple(float(e) for e in s["band_edges"])
        power = torch.matmul(_filters(edges, n_fft, int(s["sample_rate"])), power)
    db = 10.0 * torch.log10(power / float(s["db_ref"]) + 1e-12)
    floor = float(s["db_floor"])
    x = ((db - floor) / -floor).clamp(0.0, 1.0).to(torch.float32).unsqueeze(1)
    return x[0] if single else x


def resample(wave: torch.Tensor | np.ndarray, from_rate: float, to_rate: float
             ) -> np.ndarray:
    """A waveform [n] at `from_rate` as float64 [round(n * to_rate / from_rate)] at
    `to_rate`, by FFT: the spectrum is cut at the lower of the two Nyquist frequencies
    (an ideal low-pass, so nothing aliases) and the signal rebuilt at the new length.
    The clip is treated as one period (its two ends meet), as any FFT method does.

    Example:
        >>> t = np.arange(4410) / 44100
        >>> y = resample(np.sin(2 * np.pi * 440 * t), 44100, 8000)
        >>> len(y), int(np.argmax(np.abs(np.fft.rfft(y))) * 8000 / len(y))
        (800, 440)
    """
    x = np.asarray(wave, dtype=np.float64).reshape(-1)
    n = len(x)
    m = max(1, round(n * to_rate / from_rate)) if n else 0
    if n == 0 or m == n:
        return x.copy()
    spectrum = np.fft.rfft(x)
    keep = min(len(spectrum), m // 2 + 1)
    out = np.zeros(m // 2 + 1, dtype=complex)
    out[:keep] = spectrum[:keep]
    if (keep == m // 2 + 1 and m % 2 == 0) or (keep == n // 2 + 1 and n % 2 == 0):
        out[keep - 1] = 0.0  # a Nyquist bin (of either length) holds no one frequency
    return np.fft.irfft(out, m) * (m / n)


def fit_length(wave: torch.Tensor | np.ndarray, n_samples: int, where: str = "loudest"
               ) -> tuple[np.ndarray, int]:
    """A waveform brought to `n_samples`: a shorter one zero-padded at its end; a longer
    one cut to its loudest window of `n_samples` (the most energy: a recording's sound
    rather than the silence before it) with ``where="loudest"``, else (``"first"``) to
    its start. Returns (float64 [n_samples], the first sample taken).

    Example:
        >>> wave = np.r_[np.zeros(300), np.ones(100), np.zeros(300)]
        >>> y, start = fit_length(wave, 100)
        >>> len(y), start, float(y.sum())
        (100, 300, 100.0)
        >>> fit_length(np.ones(3), 5)[0].tolist()
        [1.0, 1.0, 1.0, 0.0, 0.0]
    """
    x = np.asarray(wave, dtype=np.float64).reshape(-1)
    if where not in ("loudest", "first"):
        raise ValueError(f"where must be 'loudest' or 'first', got {where!r}")
    if len(x) <= n_samples:
        return np.pad(x, (0, n_samples - len(x))), 0
    start = 0
    if where == "loudest":
        energy = np.concatenate([[0.0], np.cumsum(x * x)])
        start = int(np.argmax(energy[n_samples:] - energy[:-n_samples]))
    return x[start:start + n_samples].copy(), start


def fit_clip(wave: torch.Tensor | np.ndarray, from_rate: float, to_rate: float,
             n_samples: int, where: str = "loudest") -> tuple[np.ndarray, float]:
    """A clip of any length at `from_rate` as float64 [n_samples] at `to_rate`: its window
    (`fit_length`: the loudest, or the first) is chosen at its own rate, then resampled
    with an eighth of a window more on each side (cut off again), so a long clip costs
    no more than its window and the window's ends are not bent round to meet. Returns
    (the samples, the second of the clip they start at).

    Example:
        >>> t = np.arange(3 * 44100) / 44100
        >>> wave = np.sin(2 * np.pi * 440 * t) * (t > 2)  # silent for 2 s
        >>> y, start = fit_clip(wave, 44100, 8000, 8000)
        >>> len(y), start
        (8000, 2.0)
    """
    x = np.asarray(wave, dtype=np.float64).reshape(-1)
    n_in = int(np.ceil(n_samples * from_rate / to_rate))
    _, start = fit_length(x, n_in, where)
    margin = n_in // 8
    lo, hi = max(0, start - margin), min(len(x), start + n_in + margin)
    y = resample(x[lo:hi], from_rate, to_rate)
    skip = round((start - lo) * to_rate / from_rate)
    return fit_length(y[skip:skip + n_samples], n_samples, "first")[0], start / from_rate
