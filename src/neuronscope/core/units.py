"""Layer and unit addresses: parsing, printing, and resolving them on a model.

An address is a string such as ``"conv3"`` (a layer), ``"conv3:17"`` (channel 17
of it) or ``"conv3:17@4,5"`` (channel 17 at row 4, column 5). See `GRAMMAR`.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .errors import AddressError, LayerNotFoundError, UnitOutOfRangeError

GRAMMAR = """\
address grammar:
  LAYER                 a layer: a named_modules() path, e.g. conv3, features.3, layer2.1.conv2
  LAYER[KEY]...         element of a tuple, list or dict output: lstm[0], lstm[1][0], head[logits]
  LAYER:C               unit (channel) C of the layer, e.g. conv3:17 (feature 17 of a linear layer)
  LAYER:C@I,J           unit C at one position: conv3:17@4,5 is row 4, column 5
                        (one index per spatial or time axis of the output)"""

_NAME = r"[A-Za-z0-9_\-]+"
_PATTERN = re.compile(
    rf"^(?P<path>{_NAME}(?:\.{_NAME})*)"
    rf"(?P<keys>(?:\[{_NAME}\])*)"
    r"(?::(?P<channel>\d+)(?:@(?P<pos>\d+(?:,\d+)*))?)?$"
)
_KEY = re.compile(rf"\[({_NAME})\]")


@dataclass(frozen=True)
class Unit:
    """A layer, a unit of a layer, or a unit at one position.

    ``layer`` is the full layer address including output keys (``"lstm[0]"``);
    ``channel`` is None for a whole layer; ``pos`` is None for a whole channel.

    Example:
        >>> u = Unit.parse("conv3:17@4,5")
        >>> u.layer, u.channel, u.pos
        ('conv3', 17, (4, 5))
        >>> str(u)
        'conv3:17@4,5'
    """

    layer: str
    channel: int | None = None
    pos: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.pos is not None and self.channel is None:
            raise AddressError(f"a position needs a channel: got pos={self.pos}\n{GRAMMAR}")
        if self.pos is not None:
            object.__setattr__(self, "pos", tuple(int(p) for p in self.pos))
        if not _PATTERN.match(self.layer) or ":" in self.layer:
            raise AddressError(f"malformed layer address {self.layer!r}\n{GRAMMAR}")

    @classmethod
    def parse(cls, address: str | Unit | Any) -> Unit:
        """Parse an address string (a `Unit` or `LayerInfo` passes through as a Unit).

        Example:
            >>> Unit.parse("lstm[1][0]:3")
            Unit(layer='lstm[1][0]', channel=3, pos=None)
        """
        if isinstance(address, Unit):
            return address
        if hasattr(address, "name") and hasattr(address, "n_units"):  # a LayerInfo
            return cls(address.name)
        if not isinstance(address, str):
            raise AddressError(f"an address must be a string, got {type(address).__name__}")
        text = address.strip()
        m = _PATTERN.match(text)
        if not m:
            raise AddressError(f"malformed address {address!r}: {_diagnose(text)}\n{GRAMMAR}")
        channel = int(m["channel"]) if m["channel"] is not None else None
        pos = tuple(int(p) for p in m["pos"].split(",")) if m["pos"] else None
        return cls(m["path"] + m["keys"], channel, pos)

    @property
    def module_path(self) -> str:
        """The named_modules() path, without output keys."""
        return self.layer.split("[", 1)[0]

    @property
    def keys(self) -> tuple[str, ...]:
        """Output element keys, outermost first (strings; integers for sequences)."""
        return tuple(_KEY.findall(self.layer))

    @property
    def is_layer(self) -> bool:
        return self.channel is None

    def __str__(self) -> str:
        text = self.layer
        if self.channel is not None:
            text += f":{self.channel}"
        if self.pos is not None:
            text += "@" + ",".join(str(p) for p in self.pos)
        return text


def _diagnose(text: str) -> str:
    if not text:
        return "it is empty"
    if "@" in text and ":" not in text:
        return "a position (@) needs a channel first, as in conv3:17@4,5"
    if text.count(":") > 1:
        return "only one ':' is allowed"
    if re.search(r"\s", text):
        return "spaces are not allowed"
    if ":" in text and not re.search(r":\d+(@|$)", text):
        return "the channel after ':' must be a non-negative integer"
    if "@" in text and not re.search(r"@\d+(,\d+)*$", text):
        return "positions after '@' are non-negative integers separated by commas"
    return "unexpected characters"


def suggest(name: str, candidates: list[str], n: int = 5) -> list[str]:
    """The candidates closest to `name`: suffix matches first, then by similarity."""
    tail = [c for c in candidates if c.endswith("." + name) or c.split(".")[-1] == name]
    close = difflib.get_close_matches(name, candidates, n=n, cutoff=0.4)
    out: list[str] = []
    for c in tail + close:
        if c not in out:
            out.append(c)
    return out[:n]


def find_module(model: nn.Module, path: str) -> nn.Module:
    """The submodule at a named_modules() path, or a LayerNotFoundError naming close ones.

    Example:
        >>> m = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
        >>> find_module(m, "1")
        ReLU()
    """
    modules = dict(model.named_modules())
    modules.pop("", None)
    if path in modules:
        return modules[path]
    raise LayerNotFoundError(no_layer(model, path, list(modules)))


def no_layer(model: nn.Module, name: str, names: list[str]) -> str:
    """The message for a layer `name` that `model` does not have: the closest of `names`
    (module paths, or addressable layers such as ``gru[0]`` where they are known), then
    the first 30 of them."""
    close = suggest(name, names)
    hint = f" Closest: {', '.join(close)}." if close else ""
    listing = ", ".join(names[:30]) + (" ..." if len(names) > 30 else "")
    return (f"no layer {name!r} in {type(model).__name__}.{hint} Layers: {listing}. "
            "ns.layers(model, x) lists every addressable layer.")


_CHANNELS_FIRST = (
    nn.modules.conv._ConvNd, nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LocalResponseNorm,
    nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd, nn.modules.pooling._LPPoolNd,
    nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd,
)
_CHANNELS_LAST = (
    nn.Linear, nn.Bilinear, nn.RNNBase, nn.Embedding, nn.MultiheadAttention,
    nn.TransformerEncoderLayer, nn.TransformerDecoderLayer,
)


def _layout(module: nn.Module) -> str | None:
    """"first" or "last" when the module fixes where units are, else None (element-wise)."""
    if isinstance(module, _CHANNELS_FIRST):
        return "first"
    if isinstance(module, _CHANNELS_LAST):
        return "last"
    if isinstance(module, nn.LayerNorm) and len(module.normalized_shape) == 1:
        return "last"
    return None


def unit_axis(model: nn.Module, path: str, ndim: int) -> int | None:
    """Which axis of a batched output holds the units (None: one unit per example).

    Two-dimensional outputs keep units on axis 1. Longer outputs take the layout of
    the module that made them: axis 1 after convolutions, batch norm and pooling
    (``[B, C, ...]``), the last axis after linear, recurrent, embedding and attention
    modules (``[B, T, F]``, or ``[B, H, W, C]`` in channels-last networks). An
    element-wise module (ReLU, Dropout) or a block takes the layout of the nearest
    module of known layout: inside the block first (last registered first), then the
    modules registered before it, then those after it. With no evidence at all, 3-d
    outputs are taken as ``[B, T, F]`` and longer ones as ``[B, C, ...]``.
    """
    if ndim <= 1:
        return None
    if ndim == 2:
        return 1
    named = [(n, m) for n, m in model.named_modules() if n]
    names = [n for n, _ in named]
    at = names.index(path) if path in names else len(names)
    inside = [m for n, m in named[at:] if n == path or n.startswith(path + ".")]
    before = [m for _, m in named[:at]]
    after = [m for n, m in named[at:] if m not in inside]
    for module in [*reversed(inside), *reversed(before), *after]:
        layout = _layout(module)
        if layout is not None:
            return 1 if layout == "first" else ndim - 1
    return 2 if ndim == 3 else 1


def check_unit(unit: Unit, shape: tuple[int, ...], axis: int | None) -> None:
    """Raise UnitOutOfRangeError when `unit` does not fit a batched output `shape`."""
    if unit.channel is None:
        return
    n = shape[axis] if axis is not None else 1
    if not 0 <= unit.channel < n:
        raise UnitOutOfRangeError(
            f"unit {unit} is out of range: layer {unit.layer} has {n} units "
            f"(valid channels 0-{n - 1}; output shape {tuple(shape[1:])} without batch)"
        )
    if unit.pos is None:
        return
    spatial = [s for i, s in enumerate(shape) if i not in (0, axis)]
    if len(unit.pos) != len(spatial):
        raise UnitOutOfRangeError(
            f"unit {unit} gives {len(unit.pos)} position indices but layer {unit.layer} has "
            f"{len(spatial)} position axes of sizes {tuple(spatial)}"
        )
    for p, s in zip(unit.pos, spatial, strict=True):
        if not 0 <= p < s:
            ranges = ", ".join(f"0-{s - 1}" for s in spatial)
            raise UnitOutOfRangeError(
                f"unit {unit} is out of range: positions of layer {unit.layer} span {ranges}"
            )


def unit_index(unit: Unit, ndim: int, axis: int | None) -> tuple[Any, ...]:
    """An index into a batched output that selects `unit` for every example."""
    index: list[Any] = [slice(None)] * ndim
    if unit.channel is None:
        return tuple(index)
    if axis is None:
        return tuple(index)
    index[axis] = unit.channel
    if unit.pos is not None:
        others = [i for i in range(1, ndim) if i != axis]
        for i, p in zip(others, unit.pos, strict=True):
            index[i] = p
    return tuple(index)


def per_unit(t: torch.Tensor, axis: int | None) -> torch.Tensor:
    """A batched layer output [B, ...] as [B, units, positions]: the unit axis moved to 1
    and every other axis flattened (one unit holding everything when `axis` is None).

    Example:
        >>> per_unit(torch.zeros(2, 5, 4, 3), axis=1).shape
        torch.Size([2, 5, 12])
        >>> per_unit(torch.zeros(2, 7, 6), axis=2).shape
        torch.Size([2, 6, 7])
    """
    if axis is None:
        return t.reshape(t.shape[0], 1, -1)
    return t.movedim(axis, 1).reshape(t.shape[0], t.shape[axis], -1)
