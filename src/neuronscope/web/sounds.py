"""Uploaded sounds as model inputs: a WAV file (PCM, 8, 16, 24 or 32 bits, any number of
channels, any sample rate) is read with the standard library's `wave`, mixed to mono,
resampled to the model's rate, cut to its loudest window of the model's length (or
zero-padded to it) and made into the spectrogram its InputSpec describes
(`neuronscope.core.audio`).

Anything else is refused with a 4xx that says what was received and what is accepted:
415 for another kind of file (PNG, MP3, text...) or a WAV that is not PCM, 400 for a
broken WAV or one with no samples, 413 for a clip over `MAX_SECONDS`. The live page
converts whatever sound the browser can play (MP3, Ogg, ...) to a PCM WAV before
sending it. A silent clip is a valid input.
"""

from __future__ import annotations

import io
import struct
import wave
from typing import Any

import numpy as np
import torch
from fastapi import HTTPException

from ..core.audio import fit_clip, settings, spectrogram

MAX_SECONDS = 60.0  # the longest clip accepted
ACCEPTED = ("upload a .wav (PCM, 8, 16, 24 or 32 bits), or use the live page's file "
            "picker, which converts any sound the browser can play")
MAGIC = [(b"\x89PNG", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF8", "GIF"), (b"%PDF", "PDF"),
         (b"OggS", "Ogg"), (b"ID3", "MP3"), (b"fLaC", "FLAC"), (b"\x1aE\xdf\xa3", "WebM"),
         (b"PK\x03\x04", "ZIP"), (b"BM", "BMP"), (b"FORM", "AIFF")]
FORMATS = {3: "IEEE float", 6: "A-law", 7: "mu-law", 2: "Microsoft ADPCM", 17: "IMA ADPCM",
           85: "MP3"}
EXTENSIBLE = 0xFFFE
PCM_GUID_TAIL = bytes.fromhex("000000001000800000aa00389b71")  # KSDATAFORMAT_SUBTYPE_PCM


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
    """The samples of a PCM WAV file, mixed to mono, float64 in [-1, 1], and its ``rate``,
    ``channels``, ``bits`` and ``seconds``; a 4xx for anything else.

    Example:
        >>> from neuronscope.render.kinds.audio import wav_bytes
        >>> samples, info = read_wav(wav_bytes(torch.full((800,), 0.5), 8000))
        >>> len(samples), round(float(samples[0]), 3), info["bits"]
        (800, 0.5, 16)
    """
    if body[:4] != b"RIFF" or body[8:12] != b"WAVE":
        raise HTTPException(415, f"not a WAV file ({what_is(body)}): {ACCEPTED}")
    try:
        with wave.open(io.BytesIO(_plain_pcm(body)), "rb") as w:
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            raw = w.readframes(w.getnframes())
    except wave.Error as exc:
        tag = _format_tag(body)
        if tag is not None and tag != 1:
            kind = FORMATS.get(tag, f"format {tag}")
            raise HTTPException(415, f"a WAV file of {kind} samples, not PCM: {ACCEPTED}"
                                ) from exc
        raise HTTPException(400, f"a broken WAV file ({exc}): {ACCEPTED}") from exc
    except (EOFError, ValueError, OverflowError, RuntimeError, struct.error) as exc:
        raise HTTPException(400, f"a broken WAV file ({type(exc).__name__}: {exc}): "
                                 f"{ACCEPTED}") from exc
    if channels < 1 or width not in (1, 2, 3, 4) or not 1 <= rate <= 1_000_000:
        raise HTTPException(400, f"a WAV file with {channels} channels of {8 * width} bits at "
                                 f"{rate} Hz: {ACCEPTED}")
    frames = len(raw) // (channels * width)
    seconds = frames / rate
    if seconds > max_seconds:
        raise HTTPException(413, f"a clip of {seconds:.1f} s is over the limit of "
                                 f"{max_seconds:g} s; upload a shorter one")
    if frames == 0:
        raise HTTPException(400, "the WAV file holds no samples (0 s of sound); upload or "
                                 "record a clip of at least a fraction of a second")
    samples = _pcm(raw[:frames * channels * width], width).reshape(frames, channels).mean(1)
    return samples, {"rate": rate, "channels": channels, "bits": 8 * width, "seconds": seconds}


def what_is(body: bytes) -> str:
    """A few words on what an upload is, from its first bytes.

    Example:
        >>> what_is(b"\\x89PNG\\r\\n"), what_is(b"hello"), what_is(b"")
        ('it starts with PNG bytes', 'it is text', 'it is empty')
    """
    if not body:
        return "it is empty"
    for magic, name in MAGIC:
        if body.startswith(magic):
            return f"it starts with {name} bytes"
    if body[:4] == b"RIFF":
        return f"a RIFF file of type {body[8:12].decode('latin-1')!r}, not 'WAVE'"
    if body[4:8] == b"ftyp":
        return "it starts with MP4/M4A bytes"
    if len(body) > 1 and body[0] == 0xFF and body[1] & 0xE0 == 0xE0:
        return "it starts with MPEG audio (MP3/AAC) bytes"
    text = body[:512].decode("utf-8", "replace").rstrip("\ufffd")  # (a character cut off)
    if text and all((c.isprintable() or c.isspace()) and c != "\ufffd" for c in text):
        return "it is text"
    return f"it starts with the bytes {body[:4].hex(' ')}"


def _chunks(body: bytes) -> list[tuple[bytes, int, int]]:
    """(id, start of data, size) of each RIFF chunk, as far as the body goes."""
    out, at = [], 12
    while at + 8 <= len(body):
        size = int.from_bytes(body[at + 4:at + 8], "little")
        out.append((body[at:at + 4], at + 8, size))
        at += 8 + size + (size & 1)
    return out


def _format_tag(body: bytes) -> int | None:
    for cid, start, size in _chunks(body):
        if cid == b"fmt " and size >= 2:
            return int.from_bytes(body[start:start + 2], "little")
    return None


def _plain_pcm(body: bytes) -> bytes:
    """`body`, with a WAVE_FORMAT_EXTENSIBLE header of PCM samples (what many programs write
    for 24-bit or multi-channel files) relabelled as plain PCM, which `wave` reads."""
    for cid, start, size in _chunks(body):
        if cid == b"fmt " and size >= 40 and _format_tag(body) == EXTENSIBLE \
                and body[start + 26:start + 40] == PCM_GUID_TAIL \
                and body[start + 24:start + 26] == b"\x01\x00":
            return body[:start] + (1).to_bytes(2, "little") + body[start + 2:]
    return body


def _pcm(raw: bytes, width: int) -> np.ndarray:
    """Little-endian PCM samples (8-bit unsigned, else signed) as float64 in [-1, 1)."""
    if width == 1:
        return (np.frombuffer(raw, np.uint8).astype(np.float64) - 128.0) / 128.0
    if width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        return np.where(v >= 1 << 23, v - (1 << 24), v).astype(np.float64) / float(1 << 23)
    dtype = {2: "<i2", 4: "<i4"}[width]
    return np.frombuffer(raw, dtype).astype(np.float64) / float(1 << (8 * width - 1))
