"""Input kinds: how an input of one kind is shown (an image crop around a unit's
receptive field, a text snippet shaded per character, ...).

A kind is registered once and then used by every place that draws inputs (the
dataset-examples pages, the atlas, the web pages), so a new kind of input needs no
edit there. A kind returns a `Picture`: a PIL image (saved as PNG) or an HTML
fragment (a string); `InputKind.photographic` pictures are saved as JPEG.

Example:
    >>> import torch
    >>> kind_for(None, torch.zeros(3, 8, 8)).name
    'image'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Union

import torch
from PIL import Image

if TYPE_CHECKING:
    from neuronscope.core.spec import InputSpec
    from neuronscope.methods.examples.show import Shown

Picture = Union[Image.Image, str]  # noqa: UP007 - a runtime alias


@dataclass
class Media:
    """A file of one example kept beside its picture: its bytes, file suffix, the HTML
    element that plays it (``audio``, ``video``) and its MIME type; ``key`` names a file
    that stands for the dataset item alone (kept once however many units show it), None
    for one made for this unit; ``title``: a few words naming it (its item and class),
    shown with its player."""

    data: bytes
    suffix: str
    element: str
    mime: str
    key: str | None = None
    title: str = ""


class InputKind:
    """How inputs of one kind are drawn. Subclasses set `name` and implement the methods.

    ``needs_field``: `examples` wants the layer's receptive field in ``shown.field``;
    ``needs_traces``: it wants the unit's activation at every step in ``shown.traces``.
    ``reduce``: how its inputs are best ranked ("max" over positions, "mean"), or None
    for the caller's default. ``sources``: the dataset method whose result it wants in
    ``shown.sources`` (a sound's ``waveform``), or None. ``rows_up``: row 0 of its inputs
    is drawn at the bottom (a spectrogram's lowest band), so pictures of weights that see
    the input are flipped to match. ``trace_width``: the most columns its pictures draw
    traces at (None: one per input step).
    """

    name: ClassVar[str] = ""
    needs_field: ClassVar[bool] = False
    needs_traces: ClassVar[bool] = False
    reduce: ClassVar[str | None] = None
    sources: ClassVar[str | None] = None
    rows_up: ClassVar[bool] = False
    trace_width: ClassVar[int | None] = None

    def accepts(self, spec: InputSpec | None, sample: torch.Tensor) -> bool:
        """Whether this kind can draw `sample` (one input, no batch axis)."""
        raise NotImplementedError

    def describe(self, positions: bool, field: str | None = None) -> str:
        """What its pictures of a layer's examples show, in words: for a layer with
        `positions` (or one value per input), its receptive `field` in words where the
        pictures outline it (None: they do not)."""
        if field:
            return f"the receptive field ({field}, outlined) around each input's maximum"
        return "whole inputs"

    def examples(self, shown: Shown) -> Picture:
        """A unit's top or bottom examples, each labelled with its activation."""
        raise NotImplementedError

    def samples(self, inputs: list[torch.Tensor], spec: InputSpec | None,
                traces: torch.Tensor | None = None) -> Picture:
        """Inputs side by side (random examples of a quantile band); `traces` [n, T], when
        given to a kind that shows every step, the unit's value at each."""
        raise NotImplementedError

    def stimulus(self, x: torch.Tensor, spec: InputSpec | None, side: int = 96) -> Picture:
        """One synthetic input [C, H, W] (a feature visualization; values in the spec's
        value range, as the data's) drawn alone, about `side` pixels wide or more."""
        raise NotImplementedError(f"the {self.name} kind draws no synthetic inputs")

    def stimulus_media(self, x: torch.Tensor, spec: InputSpec | None) -> list[Media]:
        """Files to keep beside the picture of one synthetic input (a sound kind's WAV
        clip), at most one per suffix; none by default."""
        return []

    def media(self, shown: Shown) -> list[Media]:
        """Files to keep beside the picture of the examples, one per example (a sound
        kind's WAV clips), shown on unit pages by their HTML element; none by default."""
        return []

    def brief(self, shown: Shown) -> str | None:
        """A few words' worth of the top examples as an HTML fragment, for a grid of units
        where no picture stands for the unit (text); None: no brief."""
        return None

    def field_size(self, size: Sequence[int], spec: Any = None) -> str:
        """A receptive field's `size` in this kind's units: pixels for 2-d inputs, steps
        for sequences (a spectrogram kind says bands or bins and frames). `spec`: the
        model's InputSpec or its JSON dict, where known."""
        if len(size) >= 2:
            return "x".join(str(int(s)) for s in size) + " px"
        n = int(size[0]) if size else None
        return "? steps" if n is None else f"{n} step{'' if n == 1 else 's'}"

    def photographic(self, sample: torch.Tensor) -> bool:
        """Whether its pictures of inputs like `sample` are photographs, kept as JPEG
        (a third of PNG's size, encoded 50 times faster) rather than exact PNG."""
        return False


_KINDS: dict[str, InputKind] = {}


def register_kind(kind: InputKind | type[InputKind]) -> InputKind:
    """Register an input kind (an instance or a class, usable as a class decorator);
    a kind of the same name is replaced."""
    instance = kind() if isinstance(kind, type) else kind
    if not instance.name:
        raise ValueError(f"{type(instance).__name__} sets no name")
    _KINDS[instance.name] = instance
    return kind  # type: ignore[return-value]


def kinds() -> list[str]:
    """The registered kind names."""
    return list(_KINDS)


def field_size(size: Sequence[int], kind: str | None = None, spec: Any = None) -> str:
    """A receptive field's `size` in the units of the input kind named `kind` (any kind's
    default units when it is not registered), for a model of InputSpec `spec` (or its
    JSON dict) where known.

    Example:
        >>> field_size([38, 38], "image"), field_size([38, 20], "audio"), field_size([9])
        ('38x38 px', '38 bands x 20 frames', '9 steps')
        >>> field_size([5, 3], "audio", {"extra": {"n_fft": 64, "hop": 16}})  # no bands
        '5 frequency bins x 3 frames'
    """
    return _KINDS.get(kind or "", InputKind()).field_size(size, spec)


def kind_for(spec: InputSpec | None, sample: Any) -> InputKind | None:
    """The kind that draws inputs like `sample`: the one the spec names, else the first
    registered that accepts it; None when no kind can (statistics only)."""
    if not isinstance(sample, torch.Tensor):
        return None
    named = _KINDS.get(spec.kind) if spec is not None else None
    if named is not None and named.accepts(spec, sample):
        return named
    return next((k for k in _KINDS.values() if k.accepts(spec, sample)), None)


from . import audio as _audio  # noqa: E402,F401 - the built-in kinds register themselves
from . import image as _image  # noqa: E402,F401
from . import text as _text  # noqa: E402,F401
from . import waveform as _waveform  # noqa: E402,F401
