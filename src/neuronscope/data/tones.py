"""Generated sounds: notes of several synthetic timbres with and without vibrato, chords,
drum hits and silence, as log-mel spectrograms, with the waveform kept for playback.

Each clip is 1 s at 8 kHz, made by its own random generator seeded by ``(seed, stream,
index)`` (stream 0 = train, 1 = test), so any clip can be made alone, in any process,
and always comes out the same; its spectrogram is computed from it alone (never in a
batch), so an item does not depend on how many are made. numpy and torch only
(``torch.stft``; no torchaudio), nothing downloaded. The sounds themselves are made by
`neuronscope.data.tones_synth` (:func:`synthesize`, imported here).

The model input is a log-mel spectrogram [1, 64, 63] in [0, 1]: 64 mel bands from 50 Hz
to 4 kHz (row 0 the lowest), 63 frames of 16 ms (STFT of 512 samples, Hann window, hop
128, centred), power in dB relative to a full-scale sine, -80 dB and below mapped to 0
and 0 dB to 1. :func:`log_mel` computes it for any 8 kHz waveform.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from neuronscope.core.audio import band_filters, spectrogram
from neuronscope.core.spec import InputSpec
from neuronscope.data.base import check_index, check_split, generated_parts, locate
from neuronscope.data.tones_synth import (
    CLASSES,
    DRUMS,
    N_SAMPLES,
    SAMPLE_RATE,
    TIMBRES,
    synthesize,
)

N_FFT, HOP = 512, 128
N_MELS = 64
F_MIN, F_MAX = 50.0, 4000.0
DB_FLOOR = -80.0
N_FRAMES = N_SAMPLES // HOP + 1  # 63 (centred frames)
DB_REF = (N_FFT / 4) ** 2  # STFT power of a full-scale sine at its bin (Hann: sum(w)/2)
N_TRAIN, N_TEST = 4800, 1200


def hz_to_mel(f: Any) -> Any:
    """HTK mel scale."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m: Any) -> Any:
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def band_edges() -> np.ndarray:
    """The N_MELS + 2 edge frequencies (Hz) of the triangular mel bands: band m rises
    from edge m to its peak at edge m + 1 and falls to edge m + 2."""
    return mel_to_hz(np.linspace(hz_to_mel(F_MIN), hz_to_mel(F_MAX), N_MELS + 2))


def mel_filterbank() -> torch.Tensor:
    """Triangular filters [N_MELS, N_FFT // 2 + 1] (float64), peak 1 at each band's centre.

    Example:
        >>> fb = mel_filterbank()
        >>> tuple(fb.shape), bool((fb.sum(1) > 0).all())
        ((64, 257), True)
    """
    return band_filters(band_edges().tolist(), N_FFT, SAMPLE_RATE)


def log_mel(wave: torch.Tensor | np.ndarray) -> torch.Tensor:
    """The model input of one 8 kHz waveform [N_SAMPLES] (or a batch [B, N_SAMPLES]):
    a log-mel spectrogram [1, N_MELS, N_FRAMES] (or [B, 1, N_MELS, N_FRAMES]), float32
    in [0, 1]. Computed in float64, each clip alone gives the same values as in a batch
    up to float rounding. The one implementation is `neuronscope.core.audio.spectrogram`,
    run with the settings of `tones_spec` (its band edges unrounded).

    Example:
        >>> t = torch.arange(N_SAMPLES) / SAMPLE_RATE
        >>> x = log_mel(0.5 * torch.sin(2 * torch.pi * 440 * t))
        >>> x.shape, round(float(x.max()), 2)
        (torch.Size([1, 64, 63]), 0.93)
    """
    w = torch.as_tensor(wave, dtype=torch.float64)
    if w.shape[-1] != N_SAMPLES or w.dim() not in (1, 2):
        raise ValueError(f"log_mel needs waveforms [{N_SAMPLES}] or [B, {N_SAMPLES}] "
                         f"(1 s at {SAMPLE_RATE} Hz), got {tuple(w.shape)}")
    return spectrogram(w, {**tones_spec().extra, "band_edges": band_edges().tolist()})



class Tones(Dataset):
    """Synthetic sound clips, balanced over six classes (``CLASSES``): ``sine`` (a pure
    tone), ``harmonic`` (a steady note of a harmonic-rich timbre: square, saw, organ,
    reed), ``vibrato`` (a note of any timbre whose pitch wobbles 0.4-1 semitone at 4.5-7.5
    Hz), ``chord`` (two to four notes of one timbre), ``percussion`` (one to four hits of
    kick, snare, hi-hat or noise burst) and ``silence`` (background noise alone).

    Notes start in the first quarter second, last 0.45 s to the end, sustained or plucked,
    at MIDI 55-84 (196-1,047 Hz; chords' roots 52-72) and -20 to -6 dB; a fifth of the
    tonal clips have a quieter drum hit or two under them (``percussive`` in their
    metadata, while their label stays tonal). Every clip has background noise.

    Items are ``(x, label)``: x the log-mel spectrogram [1, 64, 63] (see the module
    doc), label ``item % 6``. ``waveform(i)`` gives the clip itself (float32 [8000] at
    ``sample_rate``), ``meta(i)`` its metadata (see :func:`synthesize`), ``column(key)``
    one metadata key over the split. Splits: "train" (``n`` items, default 4,800), "test"
    (default 1,200), "all" = train followed by test (with ``n``: ``n - n // 5`` and
    ``n // 5``). Everything is made at construction (about 1 ms per clip).

    Example:
        >>> ds = Tones("test", n=12)
        >>> x, label = ds[2]
        >>> x.shape, ds.classes[label], ds.meta(2)["vibrato"]
        (torch.Size([1, 64, 63]), 'vibrato', True)
        >>> ds.waveform(2).shape, ds.spec.kind
        (torch.Size([8000]), 'audio')
    """

    sample_rate = SAMPLE_RATE

    def __init__(self, split: str = "train", n: int | None = None, seed: int = 0) -> None:
        check_split(split)
        seed = int(seed)
        self._parts = generated_parts(split, n, N_TRAIN, N_TEST, test_share=5)
        self.split, self.seed = split, seed
        self.classes: list[str] = list(CLASSES)
        self.spec = tones_spec(self.classes)
        feats, labels, self.metadata = [], [], []
        for stream, count in self._parts:
            for j in range(count):
                wave, meta = self._clip(stream, j)
                feats.append(log_mel(wave))
                labels.append(meta["label"])
                self.metadata.append(meta)
        self.inputs = (torch.stack(feats) if feats
                       else torch.zeros((0, 1, N_MELS, N_FRAMES)))
        self.labels = torch.tensor(labels, dtype=torch.int64)

    def _clip(self, stream: int, j: int) -> tuple[np.ndarray, dict[str, Any]]:
        rng = np.random.default_rng([self.seed, stream, j])
        return synthesize(rng, j % len(CLASSES))

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        i = check_index(i, len(self))
        return self.inputs[i].clone(), int(self.labels[i])

    def waveform(self, i: int) -> torch.Tensor:
        """The clip of item i: float32 [8000] in [-1, 1] at ``sample_rate``, made again
        from its seed (its spectrogram was computed from the same clip in float64)."""
        wave, _ = self._clip(*locate(self._parts, check_index(i, len(self))))
        return torch.from_numpy(wave.astype(np.float32))

    def meta(self, i: int) -> dict[str, Any]:
        """The metadata of item i (a copy; keys in :func:`synthesize`)."""
        return dict(self.metadata[check_index(i, len(self))])

    def column(self, key: str) -> np.ndarray:
        """One metadata key over the split, e.g. ``column("vibrato")`` (bool [N]).

        Example:
            >>> Tones("test", n=6).column("percussive").tolist()
            [False, False, False, False, True, False]
        """
        if self.metadata and key not in self.metadata[0]:
            raise KeyError(f"no metadata key {key!r}; keys: {', '.join(self.metadata[0])}")
        return np.array([m[key] for m in self.metadata])

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The whole split: (X float32 [N, 1, 64, 63], y int64 [N]) (copies)."""
        return self.inputs.clone(), self.labels.clone()

    def __repr__(self) -> str:
        return f"Tones(split={self.split!r}, n={len(self)}, seed={self.seed})"


def tones_spec(classes: list[str] | None = None) -> InputSpec:
    """The InputSpec of tones spectrograms: kind "audio", shape (1, 64, 63), values in
    [0, 1]; ``extra`` says how to read and play them (sample rate, STFT, the mel band
    edges in Hz, the dB range).

    Example:
        >>> s = tones_spec()
        >>> s.kind, s.shape, s.extra["sample_rate"], len(s.extra["band_edges"])
        ('audio', (1, 64, 63), 8000, 66)
    """
    return InputSpec(
        shape=(1, N_MELS, N_FRAMES), kind="audio", class_names=list(classes or CLASSES),
        extra={"dataset": "tones", "representation": "log-mel", "sample_rate": SAMPLE_RATE,
               "n_samples": N_SAMPLES, "n_fft": N_FFT, "hop": HOP, "window": "hann",
               "center": True, "n_mels": N_MELS, "f_min": F_MIN, "f_max": F_MAX,
               "band_edges": [round(float(e), 4) for e in band_edges()],
               "db_floor": DB_FLOOR, "db_ref": DB_REF, "axes": ["channel", "freq", "time"],
               "freq_order": "low to high"},
    )


__all__ = ["CLASSES", "DRUMS", "N_FRAMES", "N_MELS", "SAMPLE_RATE", "TIMBRES", "Tones",
           "band_edges", "log_mel", "mel_filterbank", "synthesize", "tones_spec"]
