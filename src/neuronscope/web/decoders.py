"""Uploads as model inputs, one decoder per input kind: the live routes ask
`decoder_for(spec.kind)` and never look at the kind themselves. A decoder turns the bytes
of an upload into the display-space input [C, H, W] and says what the page needs to
know: which files its picker takes, which sources it offers, whether row 0 of the input
is drawn at the bottom (a spectrogram's lowest band), and anything to show of the input
besides it (for a sound: its spectrogram as a picture, and the second the model heard).

A new kind registers its own: ``register_decoder("video", decode, accept="video/*")``.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from fastapi import HTTPException
from PIL import Image

from ..core.audio import settings
from .images import image_tensor
from .sounds import ACCEPTED, MAX_SECONDS, audio_tensor
from .uploads import MAX_PIXELS


@dataclass(frozen=True)
class Limits:
    """What an upload may hold once decoded."""

    max_pixels: int = MAX_PIXELS
    max_seconds: float = MAX_SECONDS


@dataclass
class Decoded:
    """A decoded upload: the display-space input [C, H, W], and what the page shows of it
    besides its maps (``shown``, JSON; empty when the page draws the input itself)."""

    x: torch.Tensor
    shown: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Decoder:
    """How uploads of one input kind become inputs (`decode(body, spec, limits)`), and
    what the live page offers for that kind: its file picker's ``accept``, its sources
    (the page knows "photo", "webcam", "upload" and "microphone"), and ``flip_rows``:
    row 0 drawn at the bottom."""

    kind: str
    decode: Callable[[bytes, Any, Limits], Decoded]
    accept: str
    sources: tuple[str, ...] = ("upload",)
    flip_rows: bool = False

    def page_info(self, spec: Any, limits: Limits) -> dict[str, Any]:
        """What /api/live/layers tells the page about this kind (JSON)."""
        info: dict[str, Any] = {"kind": self.kind, "accept": self.accept,
                                "sources": list(self.sources), "flip_rows": self.flip_rows}
        extra = getattr(spec, "extra", None) or {}
        if "sample_rate" in extra:
            rate = int(extra["sample_rate"])
            try:  # the clip length the model hears (from its shape when not given)
                n = settings(spec)["n_samples"] or rate
            except ValueError:
                n = rate
            info.update(sample_rate=rate, max_seconds=limits.max_seconds,
                        record_seconds=n / rate, accepted=ACCEPTED)
        return info


_DECODERS: dict[str, Decoder] = {}


def register_decoder(kind: str, fn: Callable[[bytes, Any, Limits], Decoded], *,
                     accept: str, sources: tuple[str, ...] = ("upload",),
                     flip_rows: bool = False) -> Decoder:
    """Register `fn(body, spec, limits) -> Decoded` as the decoder of inputs of `kind`
    (replacing any before it); returns the `Decoder`.

    Example:
        >>> d = register_decoder("text", lambda body, spec, limits: Decoded(
        ...     torch.tensor(list(body))), accept="text/plain")
        >>> decoder_for("text").decode(b"hi", None, Limits()).x.tolist()
        [104, 105]
        >>> _ = _DECODERS.pop("text")
    """
    decoder = Decoder(kind, fn, accept, tuple(sources), flip_rows)
    _DECODERS[kind] = decoder
    return decoder


def decoder_for(kind: str) -> Decoder:
    """The decoder of uploads for models whose input is of `kind`; a 415 that names the
    kinds there are when there is none.

    Example:
        >>> decoder_for("audio").accept, decoder_for("image").flip_rows
        ('audio/*', False)
    """
    try:
        return _DECODERS[kind]
    except KeyError:
        raise HTTPException(415, f"uploads cannot be made into {kind!r} inputs: the live page "
                                 f"takes models whose input is one of "
                                 f"{', '.join(sorted(_DECODERS))}") from None


def decoder_kinds() -> list[str]:
    """The kinds with a decoder."""
    return sorted(_DECODERS)


# ---- the built-in kinds ------------------------------------------------------------------


def _image(body: bytes, spec: Any, limits: Limits) -> Decoded:
    return Decoded(image_tensor(body, limits.max_pixels, spec.shape))


def _audio(body: bytes, spec: Any, limits: Limits) -> Decoded:
    from ..render.kinds.audio import colorize, data_uri, wav_bytes

    x, info = audio_tensor(body, spec, limits.max_seconds)
    if x.shape[0] == 1 and len(spec.shape) == 3 and spec.shape[0] > 1:
        x = x.expand(spec.shape[0], -1, -1).contiguous()  # the mono spectrogram in each
        info["copied_channels"] = int(spec.shape[0])  # the page says so
    if tuple(x.shape) != tuple(spec.shape):
        raise HTTPException(409, f"this model's audio settings make spectrograms of shape "
                                 f"{tuple(x.shape)}, but it takes {tuple(spec.shape)}")
    rate = int(spec.extra["sample_rate"])
    rgb = (colorize(x).permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()  # x: [0, 1]
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    picture = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    heard = info.pop("clip")
    return Decoded(x, {**info, "picture": picture, "heard_seconds": len(heard) / rate,
                       "heard": data_uri(wav_bytes(heard, rate), "audio/wav")})


register_decoder("image", _image, accept="image/*", sources=("photo", "webcam", "upload"))
register_decoder("audio", _audio, accept="audio/*",
                 sources=("upload", "microphone"), flip_rows=True)
