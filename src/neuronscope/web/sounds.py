"""Uploaded sounds as model inputs: a WAV file (PCM of 8, 16, 24 or 32 bits, or float;
any number of channels, any sample rate) is read (`neuronscope.core.wav`), mixed to mono,
resampled to the model's rate, cut to its loudest window of the model's length (or
zero-padded to it) and made into the spectrogram its InputSpec describes
(`neuronscope.core.audio`).

Anything else is refused with a 4xx that says what was received and what is accepted:
415 for another kind of file (PNG, MP3, text...) or a WAV of other samples (A-law,
ADPCM...), 400 for a broken WAV or one with no samples, 413 for a clip over `MAX_SECONDS`.
The live page converts whatever sound the browser can play (MP3, Ogg, ...) to a PCM WAV
before sending it. A silent clip is a valid input; a file cut short is heard as far as it
goes, and the page says so.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from fastapi import HTTPException

from ..core import wav
from ..core.audio import fit_clip, settings, spectrogram
from ..core.wav import what_is  # noqa: F401 - part of this module's API

MAX_SECONDS = 60.0  # the longest clip accepted
ACCEPTED = ("upload a .wav (PCM of 8, 16, 24 or 32 bits, or float), or use the live page's file "
            "picker, which converts any sound the browser can play")


def audio_tensor(body: bytes, spec: Any, max_seconds: float = MAX_SECONDS
                 ) -> tuple[torch.Tensor, dict[str, Any]]:
    """An uploaded WAV file as the input of an audio model of InputSpec `spec`: the
    spectrogram [1, bands, frames], and what was heard (``clip``: float32 waveform at the
    model's rate) and how (``rate``, ``channels``, ``bits``, ``seconds`` of the upload;
    ``start``: the second the model's window starts at). Refused with a 4xx that says why.

    Example:
        >>> from neuronscope.data.tones import tones_spec
        >>> from neuronscope.render.kinds.audio import wav_bytes
        >>> x, info = audio_tensor(wav_bytes(torch.zeros(4000), 8000), tones_spec())
        >>> tuple(x.shape), info["seconds"], float(x.max())
        ((1, 64, 63), 0.5, 0.0)
    """
    try:
        s = settings(spec)
    except ValueError as exc:
        raise HTTPException(409, f"this model's input cannot be made from a sound: {exc}"
                            ) from exc
    samples, info = read_wav(body, max_seconds)
    rate = int(s["sample_rate"])
    n = int(s.get("n_samples") or rate)
    heard, start = fit_clip(samples, info["rate"], rate, n, "loudest")
    x = spectrogram(heard, s)
    return x, {**info, "start": start, "clip": torch.from_numpy(heard.astype(np.float32))}


def read_wav(body: bytes, max_seconds: float = MAX_SECONDS) -> tuple[np.ndarray, dict[str, Any]]:
    """`neuronscope.core.wav.read_wav` for an upload: its refusals as the HTTP errors they
    carry (415, 400, 413), saying what the live page accepts.

    Example:
        >>> from neuronscope.render.sound import wav_bytes
        >>> samples, info = read_wav(wav_bytes(torch.full((800,), 0.5), 8000))
        >>> len(samples), round(float(samples[0]), 3), info["bits"]
        (800, 0.5, 16)
    """
    try:
        return wav.read_wav(body, max_seconds, ACCEPTED)
    except wav.WavError as exc:
        raise HTTPException(exc.status, str(exc)) from exc
