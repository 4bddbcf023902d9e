"""WAV files as samples: PCM (8, 16, 24 or 32 bits, read with the standard library's
`wave`) or IEEE float (32 or 64 bits, read here), also with a WAVE_FORMAT_EXTENSIBLE
header, any number of channels and sample rate, mixed to mono. A file cut short (its
header promises more samples than it holds) is read as far as it goes and says so
(``declared_seconds``). Anything else is refused with a `WavError` that says what was
given (a PNG, an MP3, an A-law WAV, a broken file) and carries the HTTP status a server
answers it with: 415 for another kind of file or a WAV of other samples, 400 for a broken
WAV, one with no samples or with samples that are not numbers, 413 for a clip over the
length allowed.
"""

from __future__ import annotations

import io
import math
import struct
import wave
from typing import Any

import numpy as np

from .errors import NeuronscopeError

__all__ = ["ACCEPTED", "WavError", "read_wav", "what_is"]

ACCEPTED = "give a .wav file (PCM of 8, 16, 24 or 32 bits, or 32- or 64-bit float)"
MAGIC = [(b"\x89PNG", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF8", "GIF"), (b"%PDF", "PDF"),
         (b"OggS", "Ogg"), (b"ID3", "MP3"), (b"fLaC", "FLAC"), (b"\x1aE\xdf\xa3", "WebM"),
         (b"PK\x03\x04", "ZIP"), (b"BM", "BMP"), (b"FORM", "AIFF"), (b"RF64", "RF64")]
FORMATS = {6: "A-law", 7: "mu-law", 2: "Microsoft ADPCM", 17: "IMA ADPCM", 85: "MP3"}
PCM, FLOAT, EXTENSIBLE = 1, 3, 0xFFFE
GUID_TAIL = bytes.fromhex("000000001000800000aa00389b71")  # of KSDATAFORMAT_SUBTYPE_*


class WavError(NeuronscopeError, ValueError):
    """A file that is not a PCM WAV this reader takes; `status`: the HTTP status (400, 413,
    415) a server answers it with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def read_wav(body: bytes, max_seconds: float = math.inf, accepted: str = ACCEPTED
             ) -> tuple[np.ndarray, dict[str, Any]]:
    """The samples of a PCM or float WAV file, mixed to mono, as float64 (PCM in [-1, 1]),
    and its ``rate``, ``channels``, ``bits``, ``encoding`` ("PCM" or "float") and
    ``seconds``, with ``declared_seconds`` where the file is cut short; a `WavError` for
    anything else, saying what it is and what is accepted (`accepted`), with the HTTP
    status a server answers it with.

    Example:
        >>> import torch
        >>> from neuronscope.render.sound import wav_bytes
        >>> samples, info = read_wav(wav_bytes(torch.full((800,), 0.5), 8000))
        >>> len(samples), round(float(samples[0]), 3), info["bits"]
        (800, 0.5, 16)
    """
    if body[:4] == b"RF64":
        raise WavError(415, "an RF64 file (the 64-bit form of WAV, made for sounds over 4 GB), "
                            f"which is not read here: {accepted}")
    if body[:4] != b"RIFF" or body[8:12] != b"WAVE":
        raise WavError(415, f"not a WAV file ({what_is(body)}): {accepted}")
    tag = _format_tag(body)
    if tag == FLOAT:
        channels, width, rate, raw, declared = _float_frames(body, accepted)
    elif tag in (PCM, EXTENSIBLE, None):  # (`wave` names what is wrong with the others)
        channels, width, rate, raw, declared = _pcm_frames(body, accepted)
    else:
        kind = FORMATS.get(tag, f"format {tag}")
        raise WavError(415, f"a WAV file of {kind} samples, not PCM or float: {accepted}")
    if channels < 1 or not 1 <= rate <= 1_000_000:
        raise WavError(400, f"a WAV file with {channels} channels of {8 * width} bits at "
                            f"{rate} Hz: {accepted}")
    frames = len(raw) // (channels * width)
    seconds = frames / rate
    if seconds > max_seconds:
        raise WavError(413, f"a clip of {seconds:.1f} s is over the limit of "
                            f"{max_seconds:g} s; give a shorter one")
    if frames == 0:
        raise WavError(400, "the WAV file holds no samples (0 s of sound); give a clip of "
                            "at least a fraction of a second")
    raw = raw[:frames * channels * width]
    samples = (_floats(raw, width) if tag == FLOAT else _pcm(raw, width))
    if not np.isfinite(samples).all():
        raise WavError(400, "the WAV file's float samples include NaN or infinite values; "
                            "give a clip of numbers")
    info = {"rate": rate, "channels": channels, "bits": 8 * width,
            "encoding": "float" if tag == FLOAT else "PCM", "seconds": seconds}
    if declared > frames and not _streamed(body):  # cut short: read what is there, say so
        info["declared_seconds"] = declared / rate
    return samples.reshape(frames, channels).mean(1), info


def _pcm_frames(body: bytes, accepted: str) -> tuple[int, int, int, bytes, int]:
    """(channels, bytes per sample, rate, sample bytes, frames the header declares) of a
    PCM WAV, read by `wave`."""
    try:
        with wave.open(io.BytesIO(_plain_pcm(body)), "rb") as w:
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            declared = w.getnframes()
            raw = w.readframes(declared)
    except wave.Error as exc:
        if _format_tag(body) == EXTENSIBLE:
            raise WavError(415, f"a WAV file of samples that are neither PCM nor float "
                                f"({exc}): {accepted}") from exc
        raise WavError(400, f"a broken WAV file ({exc}): {accepted}") from exc
    except (EOFError, ValueError, OverflowError, RuntimeError, struct.error) as exc:
        why = f"{type(exc).__name__}: {exc}" if str(exc) else "it ends inside its header"
        raise WavError(400, f"a broken WAV file ({why}): {accepted}") from exc
    if width not in (1, 2, 3, 4):
        raise WavError(400, f"a WAV file of {8 * width}-bit PCM samples: {accepted}")
    return channels, width, rate, raw, declared


def _float_frames(body: bytes, accepted: str) -> tuple[int, int, int, bytes, int]:
    """(channels, bytes per sample, rate, sample bytes, frames the header declares) of an
    IEEE float WAV (which `wave` does not read)."""
    fmt = data = None
    for cid, start, size in _chunks(body):
        if cid == b"fmt " and size >= 16 and fmt is None:
            fmt = body[start:start + 16]
        elif cid == b"data" and data is None:
            data = (start, size)
    if fmt is None or data is None:
        raise WavError(400, f"a broken WAV file (no {'fmt' if fmt is None else 'data'} "
                            f"chunk): {accepted}")
    channels, rate = int.from_bytes(fmt[2:4], "little"), int.from_bytes(fmt[4:8], "little")
    bits = int.from_bytes(fmt[14:16], "little")
    if bits not in (32, 64):
        raise WavError(400, f"a WAV file of {bits}-bit float samples (32 or 64 bits are "
                            f"read): {accepted}")
    width = bits // 8
    start, size = data
    declared = size // max(1, channels * width)
    return channels, width, rate, body[start:start + size], declared


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


def _streamed(body: bytes) -> bool:
    """Whether the data chunk's size is 0xFFFFFFFF, what a program that streams a WAV out
    writes when it cannot know the length (the file is then as long as it is)."""
    return any(cid == b"data" and size == 0xFFFFFFFF for cid, _, size in _chunks(body))


def _format_tag(body: bytes) -> int | None:
    """The format of the samples (1 PCM, 3 float, ...), that of an extensible header's
    sub-format where it names one of the standard ones; None without a fmt chunk."""
    for cid, start, size in _chunks(body):
        if cid == b"fmt " and size >= 2:
            tag = int.from_bytes(body[start:start + 2], "little")
            if tag == EXTENSIBLE and size >= 40 and body[start + 26:start + 40] == GUID_TAIL:
                return int.from_bytes(body[start + 24:start + 26], "little")
            return tag
    return None


def _plain_pcm(body: bytes) -> bytes:
    """`body`, with a WAVE_FORMAT_EXTENSIBLE header of PCM samples (what many programs write
    for 24-bit or multi-channel files) relabelled as plain PCM, which `wave` reads."""
    for cid, start, size in _chunks(body):
        if cid == b"fmt " and size >= 40 and body[start:start + 2] == b"\xfe\xff" \
                and body[start + 26:start + 40] == GUID_TAIL \
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


def _floats(raw: bytes, width: int) -> np.ndarray:
    """Little-endian IEEE float samples (4 or 8 bytes) as float64."""
    return np.frombuffer(raw, "<f4" if width == 4 else "<f8").astype(np.float64)
