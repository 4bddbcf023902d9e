"""What a model expects as input: shape, value range, normalization, class names.

A model travels with its `InputSpec` as the attribute ``model.input_spec`` (set by
the loaders and the zoo); :func:`input_spec` reads it back, or returns None.

Two spaces matter. The *display space* is what a person looks at: images with
values in ``value_range`` (``(0, 1)`` for every built-in dataset). The *model
space* is what the model's forward takes: ``(x - mean) / std`` per channel when
``mean``/``std`` are set, else the display values unchanged.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from .data import wrapped
from .errors import NeuronscopeError

KINDS = ("image", "text", "audio", "vector")


@dataclass
class InputSpec:
    """The input a model expects.

    Example:
        >>> spec = InputSpec(shape=(3, 64, 64), kind="image", class_names=["a", "b"])
        >>> spec.example().shape
        torch.Size([1, 3, 64, 64])
    """

    shape: tuple[int, ...]
    kind: str = "image"
    value_range: tuple[float, float] = (0.0, 1.0)
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    class_names: list[str] | None = None
    vocab: str | None = None  # text models: the characters, index = token id
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.shape = tuple(int(s) for s in self.shape)
        self.value_range = (float(self.value_range[0]), float(self.value_range[1]))
        if self.kind not in KINDS:
            raise ValueError(f"InputSpec.kind must be one of {KINDS}, got {self.kind!r}")
        if (self.mean is None) != (self.std is None):
            raise ValueError("InputSpec: give both mean and std, or neither")
        if self.mean is not None:
            self.mean = tuple(float(m) for m in self.mean)
            self.std = tuple(float(s) for s in self.std)

    @property
    def channels(self) -> int:
        """Number of input channels (1 for inputs without a channel axis)."""
        return self.shape[0] if self.kind == "image" and len(self.shape) == 3 else 1

    @property
    def n_classes(self) -> int | None:
        return len(self.class_names) if self.class_names else None

    def _stats(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (1, -1) + (1,) * (x.dim() - 2)
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(shape)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(shape)
        return mean, std

    def to_model(self, x: torch.Tensor) -> torch.Tensor:
        """Display space -> model space (applies the normalization, if any)."""
        if self.mean is None:
            return x
        mean, std = self._stats(x)
        return (x - mean) / std

    def to_display(self, x: torch.Tensor) -> torch.Tensor:
        """Model space -> display space (undoes the normalization, if any)."""
        if self.mean is None:
            return x
        mean, std = self._stats(x)
        return x * std + mean

    def example(self, batch: int = 1, device: torch.device | str | None = None) -> torch.Tensor:
        """A deterministic example batch in model space, for shape discovery."""
        if self.kind == "text":
            return torch.zeros((batch, *self.shape), dtype=torch.long, device=device)
        lo, hi = self.value_range
        g = torch.Generator().manual_seed(0)
        x = lo + (hi - lo) * torch.rand((batch, *self.shape), generator=g)
        return self.to_model(x.to(device) if device is not None else x)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> InputSpec:
        d = json.loads(text)
        for key in ("shape", "value_range", "mean", "std"):
            if d.get(key) is not None:
                d[key] = tuple(d[key])
        return cls(**d)


def input_spec(model: nn.Module) -> InputSpec | None:
    """The `InputSpec` attached to a model, or None.

    Example:
        >>> import torch.nn as nn
        >>> input_spec(nn.Linear(2, 2)) is None
        True
    """
    spec = getattr(model, "input_spec", None)
    return spec if isinstance(spec, InputSpec) else None


def attach_spec(model: nn.Module, spec: InputSpec) -> nn.Module:
    """Attach `spec` to `model` (as ``model.input_spec``) and return the model."""
    object.__setattr__(model, "input_spec", spec)
    return model


def data_spec(data: Any) -> InputSpec | None:
    """The InputSpec a dataset carries (``spec``, through wrappers' ``dataset``), or None."""
    return next((d.spec for d in wrapped(data) if isinstance(getattr(d, "spec", None),
                                                             InputSpec)), None)


def spec_mismatch(model: InputSpec | None, data: InputSpec | None) -> str | None:
    """Why data described by `data` cannot be read as inputs of a model described by
    `model`, when both say what they are and it shows: text over another vocabulary (the
    ids would mean other characters), sound as other spectrograms (another shape or sample
    rate); None when nothing shows.

    Example:
        >>> why = spec_mismatch(InputSpec((8,), "text", vocab="ab"),
        ...                     InputSpec((8,), "text", vocab="ba"))
        >>> "id 0 is 'b' in the data and 'a' for the model;" in why
        True
    """
    if model is None or data is None or model.kind != data.kind:
        return None
    if model.kind == "text" and model.vocab and data.vocab and model.vocab != data.vocab:
        first = next((i for i, (a, b) in enumerate(zip(data.vocab, model.vocab, strict=False))
                      if a != b), min(len(model.vocab), len(data.vocab)))
        at = (f": id {first} is {data.vocab[first]!r} in the data and {model.vocab[first]!r} "
              "for the model" if first < min(len(model.vocab), len(data.vocab)) else "")
        return (f"the data's vocabulary ({len(data.vocab)} characters) is not the "
                f"model's ({len(model.vocab)}){at}; train the model over the data's "
                "vocabulary (the dataset's spec.vocab), or give it data encoded with its "
                "own (neuronscope.data.register)")
    if model.kind == "audio":
        rates = (model.extra.get("sample_rate"), data.extra.get("sample_rate"))
        if tuple(model.shape) != tuple(data.shape) or (None not in rates
                                                       and rates[0] != rates[1]):
            at = [f" at {r} Hz" if r is not None else "" for r in rates]
            what = "waveforms" if len(data.shape) == 2 else "spectrograms"
            return (f"the data are {what} {list(data.shape)}{at[1]}; the model takes "
                    f"{list(model.shape)}{at[0]}")
        return _made_otherwise(model.extra, data.extra)
    return None


def _made_otherwise(model: dict[str, Any], data: dict[str, Any]) -> str | None:
    """The first setting (defaults filled in: `core.audio.settings`) that makes the data's
    spectrograms otherwise than the model's, in words; None when both are made alike or
    either names no spectrogram settings (a waveform model's spec).

    Example:
        >>> s = {"sample_rate": 8000, "n_fft": 64, "hop": 16, "band_edges": (100, 500, 900)}
        >>> _made_otherwise(s, {**s, "band_edges": [100.0, 500.0, 900.00001]}) is None
        True
        >>> _made_otherwise(s, {**s, "db_ref": 100.0})  # the model's: the default 1.0
        "the data's spectrograms are made with db_ref 100.0, the model's with 1.0"
    """
    from .audio import NEEDED, settings

    if any(k not in model or k not in data for k in NEEDED):
        return None
    try:
        mine, theirs = settings(model), settings(data)
    except ValueError:  # a setting no spectrogram takes: said where one is made
        return None
    for key in SPECTROGRAM_SETTINGS:
        a, b = theirs.get(key), mine.get(key)
        if (a is None) != (b is None):
            same = False
        elif isinstance(a, str | bool) or a is None:
            same = a == b
        else:
            a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
            same = a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-6, atol=1e-6))
        if not same:
            shown = [f"{len(v) - 2} bands from {v[0]:g} to {v[-1]:g} Hz"
                     if v is not None and np.ndim(v) == 1 and len(v) > 2 else v
                     for v in (theirs.get(key), mine.get(key))]
            return (f"the data's spectrograms are made with {key} {shown[0]}, the "
                    f"model's with {shown[1]}")
    return None


SPECTROGRAM_SETTINGS = ("n_fft", "hop", "window", "center", "band_edges", "db_floor", "db_ref")


def refuse_unreadable(model: nn.Module, data: Any, model_name: str = "the model",
                      data_name: str = "these data") -> None:
    """Raise a `NeuronscopeError` when `data` say they are inputs `model` cannot read
    (`spec_mismatch`: another vocabulary, other spectrograms), before a method runs the
    model on them and reports numbers that mean nothing; the message names them as
    `model_name` and `data_name`.

    Example:
        >>> from types import SimpleNamespace
        >>> m = attach_spec(nn.Identity(), InputSpec((1, 40, 63), "audio"))
        >>> try:
        ...     refuse_unreadable(m, SimpleNamespace(spec=InputSpec((1, 64, 63), "audio")))
        ... except Exception as exc:
        ...     print(str(exc).split(": ", 1)[1])
        the data are spectrograms [1, 64, 63]; the model takes [1, 40, 63]
    """
    why = spec_mismatch(input_spec(model), data_spec(data))
    if why:
        raise NeuronscopeError(f"{model_name} cannot read {data_name}: {why}")


def foreign_labels(data: Any, spec: InputSpec | None) -> str | None:
    """Why the labels of `data` are not the model's classes, or None: a dataset that names
    its classes (``classes``, through wrappers' ``dataset``) other than the model's
    InputSpec's (the photos dataset labels each photo by its own name, so accuracy against
    an ImageNet model's predictions would mean nothing).

    Example:
        >>> from types import SimpleNamespace
        >>> photos = SimpleNamespace(classes=["astronaut", "camera"])
        >>> foreign_labels(photos, InputSpec(shape=(3, 8, 8), class_names=["cat", "dog"]))
        "the data's labels are its own 2 classes ('astronaut', 'camera'), not the model's 2"
        >>> foreign_labels(photos, InputSpec(shape=(3, 8, 8))) is None
        True
    """
    classes = next((d.classes for d in wrapped(data)  # CheckedData, Subset ... wrap others
                    if getattr(d, "classes", None) is not None), None)
    if classes is None or spec is None or not spec.class_names:
        return None
    if list(classes) == list(spec.class_names):
        return None
    shown = ", ".join(repr(c) for c in list(classes)[:3]) + (", ..." if len(classes) > 3 else "")
    own = f"{len(classes)} class{'es' if len(classes) != 1 else ''}"
    return f"the data's labels are its own {own} ({shown}), not the model's " \
        f"{len(spec.class_names)}"
