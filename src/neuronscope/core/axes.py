"""Which axis of a layer's output holds its units: read from what the output is.

`units.unit_axis` guesses from the module types alone, which goes wrong for blocks whose
insides differ from their output (a ConvNeXt block ends in a Linear over channels-last
maps but returns [B, C, H, W]; LayerNorm2d is a LayerNorm over permuted maps). Here the
axis follows the data through one forward pass (`Flow`), call by call as calls finish:

- modules that make units fix the axis: convolutions, batch/group norm and pooling
  axis 1; linear, recurrent, embedding and attention modules the last axis;
- a LayerNorm over C features: the one axis of size C;
- any other module or block: the output object an inner call made takes that call's
  axis; an output shaped like the module's input keeps the input's axis; a reshuffled
  one (a Permute) puts the unit axis where the input's unit count went, when exactly
  one axis has that size; else the last inner call with the same shape decides;
- the model's input: axis 1 for [B, C, ...] (4 or more axes), the last for [B, T, F].

Where nothing decides, the type-based guess is used. `set_unit_axis` overrides the
answer for one layer, for the rare output that is ambiguous (documented in README).
"""

from __future__ import annotations

import weakref
from typing import Any

import torch
from torch import nn

from .outputs import leaves
from .units import _layout, unit_axis

_OVERRIDES = "_neuronscope_unit_axes"
_CACHE: weakref.WeakKeyDictionary[nn.Module, dict[tuple[str, int], int | None]] = \
    weakref.WeakKeyDictionary()
_FOLLOWED: weakref.WeakSet[nn.Module] = weakref.WeakSet()


def set_unit_axis(model: nn.Module, layer: str, axis: int | None) -> None:
    """Declare that the units of `layer`'s output lie on `axis` (batch axis 0 counted;
    None: one unit per example), for every method.

    Example:
        >>> model = nn.Sequential(nn.Identity())
        >>> set_unit_axis(model, "0", 2)
        >>> cached_axis(model, "0", 4)
        2
    """
    model.__dict__.setdefault(_OVERRIDES, {})[str(layer)] = axis


def cached_axis(model: nn.Module, layer: str, ndim: int) -> int | None:
    """The unit axis of `layer` for `ndim`-d outputs: an override, what a `Flow` found,
    or (before any pass was followed) the type-based guess."""
    overrides = model.__dict__.get(_OVERRIDES, {})
    if layer in overrides:
        return overrides[layer]
    found = _CACHE.get(model, {})
    if (layer, ndim) in found:
        return found[(layer, ndim)]
    return unit_axis(model, layer.split("[", 1)[0], ndim)


def known(model: nn.Module) -> bool:
    """Whether a pass of `model` has been followed (so `cached_axis` reads the data flow)."""
    return model in _FOLLOWED


def _input_axis(ndim: int) -> int | None:
    return None if ndim <= 1 else 1 if ndim == 2 or ndim >= 4 else 2


class Flow:
    """Follows one forward pass: `start` and `finish` are called as each module call
    starts and ends (see `hooks.follow` and `layers.layers`)."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.overrides = model.__dict__.get(_OVERRIDES, {})
        self.axes: dict[int, tuple[weakref.ref, int | None]] = {}
        self.finished: list[tuple[tuple[int, ...], int | None]] = []  # (shape, axis) in order
        self.open: list[int] = []
        self.found = _CACHE.setdefault(model, {})  # filled as calls finish

    def start(self) -> None:
        self.open.append(len(self.finished))

    def finish(self, name: str, module: nn.Module, inputs: Any, output: Any) -> None:
        first = self.open.pop() if self.open else len(self.finished)
        inner = self.finished[first:]
        src = next((t for _, t in leaves(inputs)), None)
        for suffix, t in leaves(output):
            axis = self._axis(name + suffix, module, src, t, inner)
            self.found[(name + suffix, t.dim())] = axis
            self._remember(t, axis)
            self.finished.append((tuple(t.shape), axis))

    def done(self) -> None:
        """Mark the model as followed: `cached_axis` answers from this pass from now on."""
        _FOLLOWED.add(self.model)

    def _source_axis(self, src: torch.Tensor, first_call: bool) -> int | None:
        """The unit axis of a module's input: the axis its producer gave it; for the
        model's own input (nothing ran before) the default; else (a tensor made by code
        outside modules, e.g. a permute in forward) the axis of the last output of the
        same sizes, carried along by size when exactly one axis matches; else None."""
        entry = self.axes.get(id(src))
        if entry is not None and entry[0]() is src:
            return entry[1]
        if first_call:
            return _input_axis(src.dim())
        for shape, axis in reversed(self.finished):
            if axis is not None and sorted(shape[1:]) == sorted(src.shape[1:]) \
                    and len(shape) == src.dim():
                sized = [b for b in range(1, src.dim()) if src.shape[b] == shape[axis]]
                return sized[0] if len(sized) == 1 else None
        return None

    def _remember(self, t: torch.Tensor, axis: int | None) -> None:
        self.axes[id(t)] = (weakref.ref(t), axis)

    def _axis(self, name: str, module: nn.Module, src: torch.Tensor | None,
              t: torch.Tensor, inner: list[tuple[tuple[int, ...], int | None]]) -> int | None:
        nd = t.dim()
        if name in self.overrides:
            return self.overrides[name]
        if nd <= 2:
            return _input_axis(nd)
        if type(module) is nn.LayerNorm:  # a plain LayerNorm normalizes the last axis
            return nd - 1
        if isinstance(module, nn.LayerNorm) and len(module.normalized_shape) == 1:
            sized = [a for a in range(1, nd) if t.shape[a] == module.normalized_shape[0]]
            if len(sized) == 1:
                return sized[0]
        elif _layout(module) is not None:
            return 1 if _layout(module) == "first" else nd - 1
        entry = self.axes.get(id(t))
        if entry is not None and entry[0]() is t and inner:  # an inner call's own output
            return entry[1]
        if src is not None:
            a = self._source_axis(src, first_call=not self.finished[:len(self.finished) -
                                                                   len(inner)])
            if a is None and src.dim() > 1:  # made by code outside modules: inside decides
                same = [axis for shape, axis in inner if shape == tuple(t.shape)]
                if same:
                    return same[-1]
                a = _input_axis(src.dim())
            if src.shape == t.shape:
                return a
            if a is not None and src.dim() == nd:
                sized = [b for b in range(1, nd) if t.shape[b] == src.shape[a]]
                if len(sized) == 1 and not inner:
                    return sized[0]
        same = [axis for shape, axis in inner if shape == tuple(t.shape)]
        if same:
            return same[-1]
        return unit_axis(self.model, name.split("[", 1)[0], nd)
