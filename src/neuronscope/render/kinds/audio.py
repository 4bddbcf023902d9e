"""The audio kind: spectrogram inputs [C, freq, time] drawn as coloured images (low
frequencies at the bottom, time to the right; several channels drawn as their mean) and
played as WAV clips.

A clip is a sound's own waveform where one is at hand (a dataset's ``waveform(i)``), else
the spectrogram made audible again by Griffin-Lim (`neuronscope.render.sound`), for
inputs that never had a waveform (a feature visualization). Where the model's audio
settings cannot invert its spectrograms, they are shown without sound, and the log says
why once.

How a spectrogram is read comes from the model's InputSpec (``kind="audio"``): its value
range (mapped to [0, 1] for colours and sound) and its ``extra``: ``sample_rate``,
``n_fft``, ``hop``, ``band_edges`` (Hz, n_bands + 2: band m rises from edge m to edge
m + 1 and falls to edge m + 2; without them the rows are the STFT's own bins),
``db_floor`` and ``db_ref`` (values v in [0, 1] are ``db_floor * (1 - v)`` dB relative to
power ``db_ref``) and ``n_samples`` (the clip length; see
`neuronscope.core.audio.settings`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..grid import image_grid
from ..sound import (  # noqa: F401 - the sound functions' old home re-exports them
    SilentError,
    clip_html,
    data_uri,
    spectrogram_to_waveform,
    wav_bytes,
    write_wav,
)
from ..strip import with_strips
from . import InputKind, Media, Picture, register_kind

log = logging.getLogger(__name__)
_TOLD: set[str] = set()  # reasons for silence already logged

CMAP = "magma"
_LUTS: dict[str, torch.Tensor] = {}


@register_kind
class AudioKind(InputKind):
    """Spectrograms [C, F, T] of a model whose InputSpec has kind "audio": examples as whole
    spectrograms, each with a strip of the unit's value at each frame under it, and the
    unit's receptive field outlined at its maximum where examples are ranked by it."""

    name = "audio"
    needs_field = True
    needs_traces = True  # a strip under each spectrogram: the unit's value at each frame
    sources = "waveform"  # the dataset's own sound of an example, when it keeps one
    rows_up = True  # the lowest band at the bottom

    def accepts(self, spec: Any, sample: torch.Tensor) -> bool:
        return (spec is not None and getattr(spec, "kind", None) == "audio"
                and sample.dim() == 3 and sample.is_floating_point())

    def describe(self, positions: bool, field: str | None = None) -> str:
        return ("whole spectrograms" + ("; the strip under each is the unit's value at each "
                "frame (its mean over the bands; red above zero, blue below; the dark line "
                "is the same value, from the row's lowest to its highest)" if positions
                else "") + (f"; the receptive field ({field}) outlined at each input's "
                            "maximum (in one band and frame, where the strip's mean over "
                            "the bands may be lower)" if field else ""))

    def examples(self, shown: Any) -> Picture:
        boxes = [_field_box(shown.field, pos) for pos in shown.positions]
        images = colorize(torch.stack([x.float() for x in shown.inputs]), shown.spec) \
            if shown.inputs else torch.zeros(0, 3, 1, 1)
        return spectrogram_grid(images, [f"{v:.3g}" for v in shown.values], boxes,
                                traces=shown.traces)

    def samples(self, inputs: list[torch.Tensor], spec: Any,
                traces: torch.Tensor | None = None) -> Picture:
        return spectrogram_grid(colorize(torch.stack([x.float() for x in inputs]), spec), None,
                                [None] * len(inputs), nrow=len(inputs),  # a player under each
                                traces=traces)

    def stimulus(self, x: torch.Tensor, spec: Any, side: int = 96) -> Picture:
        """One spectrogram [1, F, T] coloured (low bands at the bottom), each cell scaled
        up by whole pixels to at least `side` pixels wide."""
        return spectrogram_image(x.float(), spec, scale=max(1, -(-side // x.shape[-1])))

    def field_size(self, size: Sequence[int], spec: Any = None) -> str:
        """Bands (frequency, rows) by frames (time, columns); frequency bins where the
        spec's settings name no bands (rows of the STFT itself)."""
        extra = (spec.get("extra") if isinstance(spec, dict) else getattr(spec, "extra", None)
                 ) or {}
        if len(size) == 1:  # a waveform's samples
            return samples_size(int(size[0]), extra.get("sample_rate"))
        if len(size) != 2:
            return super().field_size(size, spec)
        rows = "frequency bins" if extra and extra.get("band_edges") is None else "bands"
        return f"{int(size[0])} {rows} x {int(size[1])} frames"

    def media(self, shown: Any) -> list[Media]:
        """Each example as a WAV clip: the dataset's waveform where it has one, else the
        spectrogram made audible (Griffin-Lim); none where that cannot be done."""
        sources = shown.sources or [None] * len(shown.inputs)
        try:
            return [Media(self.clip(x.float(), shown.spec, w), "wav", "audio", "audio/wav",
                          key=None if w is None else f"item-{i:06d}")
                    for x, w, i in zip(shown.inputs, sources, shown.indices, strict=True)]
        except SilentError as exc:
            return _silent(exc)

    def stimulus_media(self, x: torch.Tensor, spec: Any) -> list[Media]:
        """The spectrogram made audible (Griffin-Lim) as a WAV clip, or none where that
        cannot be done."""
        try:
            return [Media(self.clip(x.float(), spec), "wav", "audio", "audio/wav")]
        except SilentError as exc:
            return _silent(exc)

    def clip(self, x: torch.Tensor, spec: Any, waveform: torch.Tensor | None = None) -> bytes:
        """A WAV file (bytes) of one input: its `waveform` when given, else the
        spectrogram `x` inverted (`spectrogram_to_waveform`; a `SilentError` when the
        spec's settings cannot)."""
        if waveform is None:
            waveform = spectrogram_to_waveform(x, spec)
        extra = dict(getattr(spec, "extra", None) or {})
        return wav_bytes(waveform, int(extra.get("sample_rate", 8000)))


def samples_size(n: int, rate: float | None = None) -> str:
    """`n` samples of a waveform in words, with milliseconds where the `rate` is known.

    Example:
        >>> samples_size(64, 8000), samples_size(9)
        ('64 samples (8 ms)', '9 samples')
    """
    return f"{n} samples" + (f" ({1000 * n / float(rate):.3g} ms)" if rate else "")


def _silent(exc: SilentError) -> list[Media]:
    """No clips, and the reason in the log (once per reason)."""
    if str(exc) not in _TOLD:
        _TOLD.add(str(exc))
        log.warning("audio: spectrograms shown without sound: %s", exc)
    return []


# ---- pictures --------------------------------------------------------------------------


def colormap(name: str = CMAP) -> torch.Tensor:
    """A 256-entry RGB lookup table [256, 3] in [0, 1] (matplotlib's colormap `name`)."""
    if name not in _LUTS:
        import matplotlib

        cmap = matplotlib.colormaps[name]
        _LUTS[name] = torch.tensor(cmap(np.linspace(0.0, 1.0, 256))[:, :3], dtype=torch.float32)
    return _LUTS[name]


def colorize(x: torch.Tensor, spec: Any = None, cmap: str = CMAP) -> torch.Tensor:
    """Spectrograms [C, F, T] or [N, C, F, T] with values in the spec's value range
    (default [0, 1]) -> RGB images [3, F, T] or [N, 3, F, T], low frequencies at the bottom
    (several channels: their mean).

    Example:
        >>> colorize(torch.rand(1, 64, 63)).shape
        torch.Size([3, 64, 63])
    """
    single = x.dim() == 3
    x = x.unsqueeze(0) if single else x
    if x.dim() != 4:
        raise ValueError(f"spectrograms must be [C, F, T] or [N, C, F, T], got {tuple(x.shape)}")
    x = x.float().mean(1, keepdim=True)  # several channels: drawn as their mean
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


def spectrogram_grid(images: torch.Tensor, labels: list[str] | None,
          boxes: Sequence[tuple[int, int, int, int] | None], nrow: int | None = None,
          outline: tuple[float, float, float] = (0.3, 1.0, 1.0),
          traces: torch.Tensor | None = None) -> Image.Image:
    """Coloured spectrograms [k, 3, F, T] in a grid, `boxes` outlined (clipped to each),
    each with the strip of its trace [T] under it where `traces` [k, T] change over time
    (`neuronscope.render.strip.with_strips`)."""
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
    # at least ~96 px wide (a player under a narrower picture loses its buttons), at
    # most ~256 px tall
    scale = max(1, min(-(-96 // t), 256 // f))
    images = with_strips(images, traces, rows=max(2, f // 8, -(-8 // scale)))  # >= 8 px
    return image_grid(images, nrow=nrow or min(len(images), 9), pad=2, scale=scale,
                      normalize=None, labels=labels)
