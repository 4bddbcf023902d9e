"""The audio kind: spectrogram inputs [1, freq, time] drawn as coloured images (low
frequencies at the bottom, time to the right) and played as WAV clips.

A clip is a sound's own waveform where one is at hand (a dataset's ``waveform(i)``), else
the spectrogram made audible again by Griffin-Lim phase recovery (the magnitudes spread
over each band's frequencies, the phases found in `iters` rounds), for inputs that never
had a waveform (a feature visualization). WAV files are mono 16-bit PCM, written with the
standard library's `wave` module: every browser plays them in an ``<audio>`` element.

How a spectrogram is read comes from the model's InputSpec (``kind="audio"``) and its
``extra``: ``sample_rate``, ``n_fft``, ``hop``, ``band_edges`` (Hz, n_bands + 2: band m
rises from edge m to edge m + 1 and falls to edge m + 2; without them the rows are the
STFT's own bins), ``db_floor`` and ``db_ref`` (values v in [0, 1] are
``db_floor * (1 - v)`` dB relative to power ``db_ref``) and ``n_samples`` (the clip
length; without it, the shortest clip that makes the shape's frames: ``hop * (frames - 1)``
centred, see `neuronscope.core.audio.settings`).
"""

from __future__ import annotations

import base64
import html
import io
import math
import wave
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ...core.audio import band_filters
from ..grid import image_grid
from . import InputKind, Media, Picture, register_kind

CMAP = "magma"
_LUTS: dict[str, torch.Tensor] = {}


@register_kind
class AudioKind(InputKind):
    """Spectrograms [1, F, T] of a model whose InputSpec has kind "audio": top examples as
    whole spectrograms with the unit's receptive field outlined at its maximum."""

    name = "audio"
    needs_field = True
    sources = "waveform"  # the dataset's own sound of an example, when it keeps one

    def accepts(self, spec: Any, sample: torch.Tensor) -> bool:
        return (spec is not None and getattr(spec, "kind", None) == "audio"
                and sample.dim() == 3 and sample.is_floating_point())

    def examples(self, shown: Any) -> Picture:
        boxes = [_field_box(shown.field, pos) for pos in shown.positions]
        images = colorize(torch.stack([x.float() for x in shown.inputs]), shown.spec) \
            if shown.inputs else torch.zeros(0, 3, 1, 1)
        return _grid(images, [f"{v:.3g}" for v in shown.values], boxes)

    def samples(self, inputs: list[torch.Tensor], spec: Any,
                traces: torch.Tensor | None = None) -> Picture:
        return _grid(colorize(torch.stack([x.float() for x in inputs]), spec), None,
                     [None] * len(inputs), nrow=2)

    def stimulus(self, x: torch.Tensor, spec: Any, side: int = 96) -> Picture:
        """One spectrogram [1, F, T] coloured (low bands at the bottom), each cell scaled
        up by whole pixels to at least `side` pixels wide."""
        return spectrogram_image(x.float(), spec, scale=max(1, -(-side // x.shape[-1])))

    def stimulus_media(self, x: torch.Tensor, spec: Any) -> list[Media]:
        """The spectrogram made audible (Griffin-Lim) as a WAV clip."""
        return [Media(self.clip(x.float(), spec), "wav", "audio", "audio/wav")]

    def field_size(self, size: Sequence[int]) -> str:
        """Bands (frequency, rows) by frames (time, columns)."""
        if len(size) != 2:
            return super().field_size(size)
        return f"{int(size[0])} bands x {int(size[1])} frames"

    def media(self, shown: Any) -> list[Media]:
        """Each example as a WAV clip: the dataset's waveform where it has one, else the
        spectrogram made audible (Griffin-Lim)."""
        sources = shown.sources or [None] * len(shown.inputs)
        return [Media(self.clip(x.float(), shown.spec, w), "wav", "audio", "audio/wav",
                      key=None if w is None else f"item-{i:06d}")
                for x, w, i in zip(shown.inputs, sources, shown.indices, strict=True)]

    def clip(self, x: torch.Tensor, spec: Any, waveform: torch.Tensor | None = None) -> bytes:
        """A WAV file (bytes) of one input: its `waveform` when given, else the
        spectrogram `x` inverted (:func:`spectrogram_to_waveform`)."""
        if waveform is None:
            waveform = spectrogram_to_waveform(x, spec)
        return wav_bytes(waveform, _extra(spec).get("sample_rate", 8000))


# ---- pictures --------------------------------------------------------------------------


def colormap(name: str = CMAP) -> torch.Tensor:
    """A 256-entry RGB lookup table [256, 3] in [0, 1] (matplotlib's colormap `name`)."""
    if name not in _LUTS:
        import matplotlib

        cmap = matplotlib.colormaps[name]
        _LUTS[name] = torch.tensor(cmap(np.linspace(0.0, 1.0, 256))[:, :3], dtype=torch.float32)
    return _LUTS[name]


def colorize(x: torch.Tensor, spec: Any = None, cmap: str = CMAP) -> torch.Tensor:
    """Spectrograms [1, F, T] or [N, 1, F, T] with values in the spec's value range
    (default [0, 1]) -> RGB images [3, F, T] or [N, 3, F, T], low frequencies at the bottom.

    Example:
        >>> colorize(torch.rand(1, 64, 63)).shape
        torch.Size([3, 64, 63])
    """
    single = x.dim() == 3
    x = x.unsqueeze(0) if single else x
    if x.dim() != 4 or x.shape[1] != 1:
        raise ValueError(f"spectrograms must be [1, F, T] or [N, 1, F, T], got {tuple(x.shape)}")
    lo, hi = getattr(spec, "value_range", (0.0, 1.0)) if spec is not None else (0.0, 1.0)
    v = ((x.float()[:, 0] - lo) / max(hi - lo, 1e-12)).clamp(0, 1).nan_to_num(0.0)
    rgb = colormap(cmap)[(v * 255).round().long()]  # [N, F, T, 3]
    out = rgb.permute(0, 3, 1, 2).flip(-2).contiguous()  # row 0 (lowest band) at the bottom
    return out[0] if single else out


def spectrogram_image(x: torch.Tensor, spec: Any = None, scale: int = 2,
                      cmap: str = CMAP) -> Image.Image:
    """One spectrogram [1, F, T] as an RGB image, each cell `scale` pixels wide and high.

    Example:
        >>> spectrogram_image(torch.rand(1, 64, 63), scale=2).size
        (126, 128)
    """
    return image_grid(colorize(x, spec, cmap)[None], nrow=1, pad=0, scale=scale,
                      normalize=None)


def _field_box(field: Any, pos: Sequence[int]) -> tuple[int, int, int, int] | None:
    """The receptive field at `pos` as (top, left, bottom, right) in spectrogram rows and
    columns (row 0 the lowest band), or None."""
    if field is None or getattr(field, "is_global", True) or len(pos) != 2 or min(pos) < 0:
        return None
    return tuple(int(v) for v in field.box(*pos))  # type: ignore[return-value]


def _grid(images: torch.Tensor, labels: list[str] | None,
          boxes: Sequence[tuple[int, int, int, int] | None], nrow: int | None = None,
          outline: tuple[float, float, float] = (0.3, 1.0, 1.0)) -> Image.Image:
    """Coloured spectrograms [k, 3, F, T] in a grid, `boxes` outlined (clipped to each)."""
    if len(images) == 0:
        return Image.new("RGB", (64, 16), "white")
    images = images.clone()
    f, t = images.shape[-2:]
    color = torch.tensor(outline).view(3, 1)
    for img, box in zip(images, boxes, strict=True):
        if box is None:
            continue
        top, left, bottom, right = box
        lo, hi = max(top, 0), min(bottom, f) - 1  # rows of bands, counted from the lowest
        le, ri = max(left, 0), min(right, t) - 1
        if hi < lo or ri < le:
            continue
        r_lo, r_hi = f - 1 - hi, f - 1 - lo  # image rows (flipped)
        img[:, r_lo, le:ri + 1] = color
        img[:, r_hi, le:ri + 1] = color
        img[:, r_lo:r_hi + 1, le] = color
        img[:, r_lo:r_hi + 1, ri] = color
    scale = max(1, 128 // max(f, t))
    return image_grid(images, nrow=nrow or min(len(images), 9), pad=2, scale=scale,
                      normalize=None, labels=labels)


# ---- sound -----------------------------------------------------------------------------


def _extra(spec: Any) -> dict[str, Any]:
    return dict(getattr(spec, "extra", None) or {})


def spectrogram_to_waveform(x: torch.Tensor, spec: Any, iters: int = 32, seed: int = 0
                            ) -> torch.Tensor:
    """A waveform float32 [n_samples] whose spectrogram is close to `x` [1, F, T]
    (Griffin-Lim, `iters` rounds, phases started from `seed`), peak at most 0.99.

    Example:
        >>> from neuronscope.core.spec import InputSpec
        >>> spec = InputSpec((1, 3, 9), kind="audio", extra={"sample_rate": 8000, "n_fft": 64,
        ...     "hop": 16, "band_edges": [100, 500, 1000, 2000, 3000]})
        >>> spectrogram_to_waveform(torch.rand(1, 3, 9), spec, iters=2).shape
        torch.Size([128])
    """
    extra = _extra(spec)
    sr, n_fft = int(extra.get("sample_rate", 8000)), int(extra.get("n_fft", 512))
    hop = int(extra.get("hop", n_fft // 4))
    floor, ref = float(extra.get("db_floor", -80.0)), float(extra.get("db_ref", 1.0))
    v = x.detach().double().reshape(x.shape[-2], x.shape[-1]).clamp(0, 1)
    power = ref * 10.0 ** (floor * (1.0 - v) / 10.0)
    power = torch.where(v > 0, power, torch.zeros_like(power))
    edges = extra.get("band_edges")
    if edges is not None:  # spread each band's power evenly over its bins
        fb = band_filters(edges, n_fft, sr)
        density = power / fb.sum(1, keepdim=True).clamp(min=1e-12)  # per bin, per band
        weight = fb.sum(0)  # [bins]
        power = (fb.T @ density) / weight.clamp(min=1e-12)[:, None]
        power = torch.where(weight[:, None] > 0, power, torch.zeros_like(power))
    mag = power.sqrt()
    n_samples = int(extra.get("n_samples", hop * (mag.shape[-1] - 1)))
    window = torch.hann_window(n_fft, dtype=torch.float64)
    g = torch.Generator().manual_seed(seed)
    angles = torch.polar(torch.ones_like(mag), 2 * math.pi * torch.rand(mag.shape, generator=g,
                                                                        dtype=torch.float64))
    signal = torch.zeros(n_samples, dtype=torch.float64)
    for _ in range(max(1, iters)):
        signal = torch.istft(mag * angles, n_fft, hop, window=window, length=n_samples)
        rebuilt = torch.stft(signal, n_fft, hop, window=window, return_complex=True)
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
            f"alt='spectrogram'><br><audio controls preload='none' "
            f"src='{html.escape(audio_src, quote=True)}'></audio></figure>")


def data_uri(data: bytes, mime: str) -> str:
    """`data` as a ``data:`` URI (for self-contained pages)."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
