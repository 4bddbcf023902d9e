"""The waveform kind: sound inputs given to the model as samples [C, N] (a raw-waveform
network, Conv1d over time) drawn as spectrograms made for display and played as WAV
clips of the input itself.

The model never sees these spectrograms: they are a picture of its input (a short-time
Fourier transform of the channels' mean, in dB below the clip's loudest cell, the low
frequencies at the bottom, as the audio kind draws a spectrogram model's input). The
model's InputSpec says the kind (``kind="audio"``), the shape ``(C, N)`` and the
``extra["sample_rate"]`` (8,000 Hz when it does not say); the samples are taken in the
spec's value range, ``(-1, 1)`` for a waveform.
"""

from __future__ import annotations

from typing import Any

import torch

from ..sound import wav_bytes
from . import InputKind, Media, Picture, register_kind
from .audio import colorize, spectrogram_grid

RATE = 8000  # samples per second when the spec does not say
FLOOR_DB = 80.0  # the quietest cell drawn, below the clip's loudest
FRAMES = 256  # the most frames (pixels across, unscaled) a clip's picture has


@register_kind
class WaveformKind(InputKind):
    """Waveforms [C, N] of a model whose InputSpec has kind "audio": examples as display
    spectrograms (`display_spectrogram`), one WAV clip each.

    Example:
        >>> from neuronscope.core.spec import InputSpec
        >>> spec = InputSpec(shape=(1, 800), kind="audio", value_range=(-1.0, 1.0))
        >>> kind = WaveformKind()
        >>> kind.accepts(spec, torch.zeros(1, 800)), kind.samples([torch.zeros(1, 800)], spec).mode
        (True, 'RGB')
    """

    name = "waveform"
    needs_traces = True  # a strip under each picture: the unit's value over time
    trace_width = FRAMES  # as wide as the picture at most, not one column per sample

    def describe(self, positions: bool, field: str | None = None) -> str:
        return "whole sounds as spectrograms" + (
            "; the strip under each is the unit's value over time (red above zero, blue "
            "below; the dark line is the same value, from the row's lowest to its highest)"
            if positions else "")

    def accepts(self, spec: Any, sample: torch.Tensor) -> bool:
        return (spec is not None and getattr(spec, "kind", None) == "audio"
                and sample.dim() == 2 and sample.is_floating_point())

    def examples(self, shown: Any) -> Picture:
        return _pictures(shown.inputs, shown.spec, [f"{v:.3g}" for v in shown.values],
                         shown.traces)

    def samples(self, inputs: list[torch.Tensor], spec: Any,
                traces: torch.Tensor | None = None) -> Picture:
        return _pictures(inputs, spec, None, traces)

    def media(self, shown: Any) -> list[Media]:
        """Each example's own samples as a WAV clip (the channels' mean), kept once per
        dataset item."""
        rate = sample_rate(shown.spec)
        return [Media(wav_bytes(_mono(x, shown.spec), rate), "wav", "audio", "audio/wav",
                      key=f"item-{i:06d}")
                for x, i in zip(shown.inputs, shown.indices, strict=True)]


def sample_rate(spec: Any) -> int:
    """The spec's ``extra["sample_rate"]``, else `RATE`."""
    return int((getattr(spec, "extra", None) or {}).get("sample_rate") or RATE)


def display_spectrogram(x: torch.Tensor, spec: Any = None) -> torch.Tensor:
    """A picture of waveform `x` [C, N]: the STFT of its channels' mean (windows of about
    16 ms, a quarter of that apart; on a clip of more than `FRAMES` frames, neighbouring
    frames averaged down to `FRAMES`) in dB below its loudest cell, mapped to [0, 1]
    (`FLOOR_DB` below it is 0): [1, bins, frames].

    Example:
        >>> t = torch.arange(8000) / 8000
        >>> s = display_spectrogram(torch.sin(2 * torch.pi * 1000 * t)[None])
        >>> s.shape, int(s[0].mean(1).argmax())  # 1 kHz: bin 16 of 65 (0 to 4 kHz)
        (torch.Size([1, 65, 251]), 16)
        >>> display_spectrogram(torch.zeros(1, 80000)).shape  # 10 s: FRAMES frames
        torch.Size([1, 65, 256])
    """
    mono = _mono(x, spec)
    if len(mono) < 16:  # too short for any window: zero-padded to one
        mono = torch.nn.functional.pad(mono, (0, 16 - len(mono)))
    n_fft = 1 << max(3, round(sample_rate(spec) * 0.016).bit_length() - 1)
    n_fft = min(n_fft, 1 << max(3, (len(mono) - 1).bit_length() - 1))  # a short clip
    power = torch.stft(mono, n_fft, n_fft // 4, window=torch.hann_window(n_fft),
                       return_complex=True).abs().pow(2)
    if power.shape[-1] > FRAMES:  # a long clip: neighbouring frames averaged, none skipped
        power = torch.nn.functional.adaptive_avg_pool1d(power[None], FRAMES)[0]
    db = 10 * torch.log10(power + 1e-12)
    return ((db - db.max() + FLOOR_DB) / FLOOR_DB).clamp(0, 1)[None]


def _pictures(inputs: list[torch.Tensor], spec: Any, labels: list[str] | None,
              traces: torch.Tensor | None = None) -> Picture:
    """The inputs' display spectrograms in one row, labelled, each with the strip of its
    trace [N] (one value per sample) under it."""
    if not inputs:
        return spectrogram_grid(torch.zeros(0, 3, 1, 1), labels, [])
    images = colorize(torch.stack([display_spectrogram(x, spec) for x in inputs]))
    return spectrogram_grid(images, labels, [None] * len(inputs), nrow=len(inputs),
                            traces=traces)


def _mono(x: torch.Tensor, spec: Any) -> torch.Tensor:
    """The channels' mean of `x` [C, N] as samples in [-1, 1] (from the spec's value
    range, (-1, 1) by default)."""
    lo, hi = getattr(spec, "value_range", None) or (-1.0, 1.0)
    if (lo, hi) == (0.0, 1.0) and float(x.min()) < 0:  # a default range: not a waveform's
        lo, hi = -1.0, 1.0
    return (2 * (x.float().mean(0) - lo) / max(hi - lo, 1e-12) - 1).clamp(-1, 1)
