"""Receptive fields: which input pixels a unit of a layer can see.

Two ways to find them. The *analytic* walk composes kernel, stride, padding and
dilation of the conv and pool modules along the chain of module calls that leads
to the layer; it is exact but only valid for a plain chain. The *gradient*
footprint backpropagates from the unit at the centre of the layer's map to the
input and measures the non-zero region; it works for any graph (residual,
branching, functional ops) but is cut by the input border, so it reports what the
given input size lets the unit see.

Token inputs (integer ids [B, T] read by an ``nn.Embedding``) have no gradient: their
footprint is measured on the output of the first embedding that runs, one vector per
token, so a field's size and stride count tokens (steps). A model whose integer input
no embedding reads has no field to measure (a NeuronscopeError).

Coordinates are input pixel indices; ``offset`` is the input coordinate of the
centre of the unit at position 0 (half-integers for even sizes).
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .axes import cached_axis
from .errors import NeuronscopeError
from .hooks import forward_kwargs, trace
from .layers import eval_mode, resolve_example
from .recording import record
from .result import Result
from .units import Unit, find_module, select_output, unit_axis

logger = logging.getLogger(__name__)

METHODS = ("auto", "analytic", "gradient")


@dataclass(frozen=True)
class ReceptiveField(Result):
    """Size, stride and offset of a layer's receptive field, per spatial axis.

    Axes are the spatial axes of the input (rows then columns for images; one axis
    for sequences). ``is_global`` marks a layer whose units see the whole input
    (after global pooling, flatten or linear): then size = stride = the input size.
    ``exact`` is False for a gradient footprint that reached the input's border on both
    sides of an axis: the size is then a lower bound (the field is larger than the
    input) and the stride, which cannot be measured, is estimated from the map size
    (input size / positions). It is False too when the footprints of two neighbouring
    units differ in size: a field cut by the border on one side, or no fixed window at
    all (a recurrent layer, whose step t sees every step up to t); the size is then the
    centre unit's footprint. A stride is never 0.

    Example:
        >>> rf = ReceptiveField(size=(3, 3), stride=(2, 2), offset=(0.0, 0.0), method="analytic")
        >>> rf.box(1, 2)
        (1, 3, 4, 6)
        >>> rf.box(0, 0, clip=(8, 8))
        (0, 0, 2, 2)
    """

    FORMAT = "neuronscope.receptive_field"

    size: tuple[int, ...]
    stride: tuple[int, ...]
    offset: tuple[float, ...]
    method: str
    is_global: bool = False
    layer: str = ""
    exact: bool = True

    def box(self, *pos: int, clip: Sequence[int] | None = None) -> tuple[int, ...]:
        """Input pixels seen by the unit at `pos`: ``(top, left, bottom, right)``, ends exclusive.

        One start and one end per axis (``(start, end)`` for 1-d). `clip` is an input
        shape (its last axes are used, so ``(3, 32, 32)`` works) to cut the box to.
        A global field ignores `pos` and returns the whole input.
        """
        n = len(self.size)
        if self.is_global:
            pos = (0,) * n
        elif len(pos) != n:
            raise ValueError(f"box takes {n} position indices (one per spatial axis), got {pos}")
        starts = [
            math.floor(o - (s - 1) / 2 + 0.5) + p * j
            for o, s, p, j in zip(self.offset, self.size, pos, self.stride, strict=True)
        ]
        ends = [a + s for a, s in zip(starts, self.size, strict=True)]
        if clip is not None:
            bounds = tuple(int(b) for b in clip)[-n:]
            if len(bounds) != n:
                raise ValueError(f"clip needs {n} spatial sizes, got {tuple(clip)}")
            starts = [min(max(a, 0), b) for a, b in zip(starts, bounds, strict=True)]
            ends = [min(max(e, 0), b) for e, b in zip(ends, bounds, strict=True)]
        return (*starts, *ends)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (``"global"`` for `is_global`)."""
        return {"layer": self.layer, "size": list(self.size), "stride": list(self.stride),
                "offset": list(self.offset), "method": self.method, "global": self.is_global,
                "exact": self.exact}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ReceptiveField:
        """The inverse of `to_dict`."""
        return cls(tuple(d["size"]), tuple(d["stride"]), tuple(map(float, d["offset"])),
                   d["method"], bool(d.get("global", False)), d.get("layer", ""),
                   bool(d.get("exact", True)))


def receptive_field(model: nn.Module, layer: Any, example_input: Any = None,
                    method: str = "auto", *, samples: int = 8, seed: int = 0) -> ReceptiveField:
    """The receptive field of the units of `layer` in input pixels.

    `layer` is a layer address (a unit address uses its layer). `method` is
    ``"analytic"`` (conv/pool arithmetic along a chain of module calls; refused with
    the reason when the calls do not form a chain), ``"gradient"`` (the footprint of
    the centre unit over `samples` seeded random inputs; any graph) or ``"auto"``
    (analytic when valid, else gradient, logging why). Normalization modules count
    as element-wise, as is conventional. The analytic size may exceed the input;
    the gradient footprint is cut by the input border. Token ids (an integer input) are
    measured by the gradient footprint on the first ``nn.Embedding``'s output: in tokens.

    Example:
        >>> import torch, torch.nn as nn
        >>> model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(2), nn.Conv2d(2, 2, 3))
        >>> rf = receptive_field(model, "2", torch.zeros(1, 1, 16, 16))
        >>> rf.size, rf.stride, rf.method
        ((8, 8), (2, 2), 'analytic')
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    unit = Unit(Unit.parse(layer).layer)
    find_module(model, unit.module_path)  # LayerNotFoundError with suggestions
    x = _input_tensor(resolve_example(model, example_input))
    if method == "analytic" and not x.is_floating_point():
        raise NeuronscopeError(
            f"no analytic receptive field for {unit.layer}: the input holds {x.dtype} token "
            "ids, not pixels. method='gradient' measures it from the embedding's output.")
    if method == "analytic" or (method == "auto" and x.is_floating_point()):
        try:
            with eval_mode(model):
                return _analytic(model, unit, x[:1].clone())
        except _NotAChain as why:
            if method == "analytic":
                raise NeuronscopeError(
                    f"no analytic receptive field for {unit.layer}: {why}. "
                    "method='gradient' measures it for any graph."
                ) from None
            logger.info("receptive_field(%s): %s; using the gradient footprint", unit.layer, why)
    with eval_mode(model):
        return _gradient(model, unit, x, samples, seed)


def _input_tensor(example: Any) -> torch.Tensor:
    args, kwargs = forward_kwargs(example)
    if len(args) != 1 or kwargs or not isinstance(args[0], torch.Tensor) or args[0].dim() < 2:
        raise NeuronscopeError(
            "receptive_field needs a model that takes one batched input tensor "
            "(e.g. torch.zeros(1, 3, 64, 64)); got " + type(example).__name__
        )
    return args[0]


def _first_module(model: nn.Module) -> str:
    """The first registered submodule: the layout of the input follows it."""
    return next((name for name, _ in model.named_modules() if name), "")


def _spatial_size(x: torch.Tensor) -> tuple[int, ...]:
    return tuple(x.shape[2:]) if x.dim() >= 3 else tuple(x.shape[1:])


def _global(size: tuple[int, ...], method: str, layer: str) -> ReceptiveField:
    return ReceptiveField(size, size, tuple((s - 1) / 2 for s in size), method, True, layer)


# ---------------------------------------------------------------- analytic


class _NotAChain(Exception):
    """The module calls do not form a chain; the message says where."""


_POINTWISE = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm,
              nn.modules.dropout._DropoutNd, nn.Identity, nn.Softmax2d)
_MIXING = (nn.MultiheadAttention, nn.Softmax, nn.Softmin, nn.LogSoftmax, nn.GLU)
_Geometry = tuple[list[int], list[int], list[int], list[int]]  # kernel, stride, padding, dilation


def _tuple(value: Any, n: int) -> list[int]:
    if isinstance(value, (tuple, list)):
        return [int(v) for v in value]
    return [int(value)] * n


def _geometry(module: nn.Module, inp: torch.Tensor, n: int, name: str) -> _Geometry | str | None:
    """Kernel geometry per axis, "global", or None for an element-wise module."""
    if isinstance(module, nn.modules.conv._ConvNd) and not module.transposed:
        k, d = _tuple(module.kernel_size, n), _tuple(module.dilation, n)
        if module.padding == "valid":
            p = [0] * n
        elif module.padding == "same":
            p = [di * (ki - 1) // 2 for ki, di in zip(k, d, strict=True)]
        else:
            p = _tuple(module.padding, n)
        return k, _tuple(module.stride, n), p, d
    if isinstance(module, (nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd,
                           nn.modules.pooling._LPPoolNd)):
        k = _tuple(module.kernel_size, n)
        return (k, _tuple(module.stride or k, n), _tuple(getattr(module, "padding", 0), n),
                _tuple(getattr(module, "dilation", 1), n))
    if isinstance(module, (nn.modules.pooling._AdaptiveAvgPoolNd,
                           nn.modules.pooling._AdaptiveMaxPoolNd)):
        size = list(inp.shape[-n:])
        asked = module.output_size
        asked = list(asked) if isinstance(asked, (tuple, list)) else [asked] * n
        out = [s if o is None else int(o) for o, s in zip(asked, size, strict=True)]
        if all(o == 1 for o in out):
            return "global"
        if any(s % o for s, o in zip(size, out, strict=True)):
            raise _NotAChain(f"{name} pools a map of {tuple(size)} to {tuple(out)} unevenly")
        k = [s // o for s, o in zip(size, out, strict=True)]
        return k, k, [0] * n, [1] * n
    if isinstance(module, nn.Flatten):
        first, last = (d % inp.dim() for d in (module.start_dim, module.end_dim))
        if last <= first:
            return None
        if first <= 1 and last == inp.dim() - 1:
            return "global"
        if last >= 2:
            raise _NotAChain(f"{name} flattens position axes into {inp.dim() - last + first}")
        return None
    if isinstance(module, (nn.Linear, nn.Bilinear)):
        if inp.dim() == 2:
            return "global"
        raise _NotAChain(f"{name} ({type(module).__name__}) mixes the last axis of a "
                         f"{inp.dim()}-d input")
    activation = type(module).__module__ == "torch.nn.modules.activation"
    if isinstance(module, _POINTWISE) or (activation and not isinstance(module, _MIXING)):
        return None
    raise _NotAChain(f"{name} ({type(module).__name__}) is not a conv, pool or element-wise module")


def _storage(t: torch.Tensor) -> int:
    return t.untyped_storage().data_ptr()


def _link(prev: torch.Tensor, inp: torch.Tensor, prev_name: str, name: str,
          inplace: Counter[int]) -> bool:
    """Check that `inp` is `prev` unchanged; True when a view flattened it (global)."""
    flattened = False
    if inp is not prev:
        if _storage(inp) != _storage(prev):
            raise _NotAChain(f"the input of {name} is not the output of {prev_name} "
                             "(a branch or an operation that is not a module)")
        if inp.shape != prev.shape:
            if inp.dim() != 2:
                raise _NotAChain(f"the output of {prev_name} is reshaped before {name}")
            flattened = True
    if inp._version > inplace[_storage(inp)]:
        raise _NotAChain(f"the output of {prev_name} is changed in place before {name} by an "
                         "operation that is not a module (such as `out += x`)")
    return flattened


def _analytic(model: nn.Module, unit: Unit, x: torch.Tensor) -> ReceptiveField:
    path = unit.module_path
    calls = trace(model, x)
    mine = [c for c in calls if c.name == path]
    if not mine:
        raise NeuronscopeError(f"layer {path} did not run in a forward pass of the example input")
    if len(mine) > 1:
        raise _NotAChain(f"{path} ran {len(mine)} times in one forward pass")
    leaves = [c for c in calls if next(c.module.children(), None) is None]
    inside = [c for c in leaves if c.name == path or c.name.startswith(path + ".")]
    if not inside:
        raise _NotAChain(f"{path} calls no leaf module")
    chain = [c for c in leaves if c.order <= inside[-1].order]
    # in-place calls that bump a tensor's version (dropout in eval mode does not)
    inplace: Counter[int] = Counter(
        _storage(c.inputs[0]) for c in calls
        if getattr(c.module, "inplace", False) and c.inputs
        and isinstance(c.inputs[0], torch.Tensor)
        and not isinstance(c.module, nn.modules.dropout._DropoutNd)
    )
    n = x.dim() - 2
    is_global = n <= 0
    r, j, start = [1] * n, [1] * n, [0.0] * n
    prev, prev_name = x, "the model input"
    for call in chain:
        tensors = [a for a in call.inputs if isinstance(a, torch.Tensor)]
        if len(tensors) != 1:
            raise _NotAChain(f"{call.name} takes {len(tensors)} tensors")
        inp = tensors[0]
        is_global = _link(prev, inp, prev_name, call.name, inplace) or is_global
        geometry = None if is_global else _geometry(call.module, inp, n, call.name)
        if geometry == "global":
            is_global = True
        elif geometry is not None:
            for a, (k, s, p, d) in enumerate(zip(*geometry, strict=True)):
                r[a] += (k - 1) * d * j[a]
                start[a] += ((k - 1) * d / 2 - p) * j[a]
                j[a] *= s
        if not isinstance(call.output, torch.Tensor):
            raise _NotAChain(f"{call.name} returns a {type(call.output).__name__}")
        prev, prev_name = call.output, call.name
    if mine[0] is not chain[-1]:  # a block: its output must be its last leaf's output
        out = select_output(mine[0].output, unit.keys, unit.layer)
        if not isinstance(out, torch.Tensor):
            raise _NotAChain(f"{unit.layer} returns a {type(out).__name__}")
        is_global = _link(prev, out, prev_name, f"the output of {path}", inplace) or is_global
    if is_global:
        return _global(_spatial_size(x), "analytic", unit.layer)
    return ReceptiveField(tuple(r), tuple(j), tuple(start), "analytic", False, unit.layer)


# ---------------------------------------------------------------- gradient


def _first_embedding(model: nn.Module, x: torch.Tensor) -> nn.Embedding:
    """The first ``nn.Embedding`` that runs on the token ids `x`; refused without one."""
    for call in trace(model, x):
        if isinstance(call.module, nn.Embedding):
            return call.module
    raise NeuronscopeError(
        f"the input holds {x.dtype} values (token ids?) and no nn.Embedding reads them: "
        "an integer input has no gradient to measure a receptive field with")


def _gradient(model: nn.Module, unit: Unit, x: torch.Tensor, samples: int, seed: int
              ) -> ReceptiveField:
    g = torch.Generator().manual_seed(seed)
    n = max(1, samples)
    if not x.is_floating_point():  # token ids: measured on the first embedding's output
        embed = _first_embedding(model, x)
        ids = torch.randint(0, embed.num_embeddings, (n, *x.shape[1:]), generator=g)
        leaves: list[torch.Tensor] = []

        def cut(module: nn.Module, args: Any, out: Any) -> Any:
            if leaves or not isinstance(out, torch.Tensor):
                return None
            leaves.append(out.detach().requires_grad_(True))
            return leaves[0]

        handle = embed.register_forward_hook(cut)  # before record's: it sees the leaf
        try:
            with torch.enable_grad(), record(model, [unit.layer], detach=False) as rec:
                model(ids.to(device=x.device, dtype=x.dtype))
        finally:
            handle.remove()
        if not leaves:
            raise NeuronscopeError("the embedding that reads the token ids returned no tensor")
        xb = leaves[0]  # [B, T..., E]: one vector per token
        in_axes = list(range(1, x.dim()))
    else:
        if x.dim() < 3:
            in_axes = [1]
        elif x.dim() == 3 and unit_axis(model, _first_module(model), 3) == 2:
            in_axes = [1]  # a sequence of feature vectors: [B, T, F]
        else:
            in_axes = list(range(2, x.dim()))  # [B, C, ...]: images are channels-first
        xb = torch.randn((n, *x.shape[1:]), generator=g)
        xb = xb.to(device=x.device, dtype=x.dtype).requires_grad_(True)
        with torch.enable_grad(), record(model, [unit.layer], detach=False) as rec:
            model(xb)
    in_size = tuple(xb.shape[a] for a in in_axes)
    y = rec[unit.layer]
    axis = cached_axis(model, unit.layer, y.dim())
    spatial = [d for d in range(1, y.dim()) if d != axis] if axis is not None else []
    if not spatial:
        return _global(in_size, "gradient", unit.layer)
    if len(spatial) != len(in_axes):
        raise NeuronscopeError(
            f"{unit.layer} has {len(spatial)} position axes {tuple(y.shape[d] for d in spatial)} "
            f"but the input has {len(in_axes)} {in_size}: positions cannot be mapped to pixels"
        )
    if not y.requires_grad:
        raise NeuronscopeError(f"{unit.layer} does not depend on the input")
    sizes = [y.shape[d] for d in spatial]
    centre = [(s - 1) // 2 for s in sizes]
    others = [0] + [d for d in range(1, xb.dim()) if d not in in_axes]

    def footprint(pos: list[int]) -> tuple[list[int], list[int]]:
        index: list[Any] = [slice(None)] * y.dim()
        for d, p in zip(spatial, pos, strict=True):
            index[d] = p
        (grad,) = torch.autograd.grad(y[tuple(index)].sum(), xb, retain_graph=True)
        seen = grad.abs().mean(dim=others) > 0
        if not seen.any():
            raise NeuronscopeError(
                f"the unit of {unit.layer} at {tuple(pos)} got no gradient from the input for any "
                f"of {samples} random inputs (dead units?); try more samples or another seed"
            )
        starts, ends = [], []
        for a in range(seen.dim()):
            hit = seen.movedim(a, 0).reshape(seen.shape[a], -1).any(dim=1)
            where = torch.nonzero(hit).flatten()
            starts.append(int(where.min()))
            ends.append(int(where.max()) + 1)
        return starts, ends

    s0, e0 = footprint(centre)
    size = tuple(e - s for s, e in zip(s0, e0, strict=True))
    if all(s == 1 for s in sizes) and size == in_size:
        return _global(in_size, "gradient", unit.layer)
    stride, exact = list(in_size), True
    for a, s in enumerate(sizes):
        if s == 1:
            continue  # one position: no neighbour to measure a stride with
        s1, e1 = footprint([c + (b == a) for b, c in enumerate(centre)])
        if e1[a] - s1[a] != size[a]:  # no one window: cut by the border, or recurrent
            exact = False
        if s0[a] > 0 and s1[a] > s0[a]:
            stride[a] = s1[a] - s0[a]
        elif e0[a] < in_size[a] and e1[a] > e0[a]:
            stride[a] = e1[a] - e0[a]
        else:  # both footprints span the input (a field larger than the input, or a
            # squeeze-excitation path): the stride follows from the map size
            stride[a], exact = max(1, round(in_size[a] / s)), False
    exact = exact and all(s > 0 or e < n for s, e, n in zip(s0, e0, in_size, strict=True))
    offset = tuple((s0[a] + e0[a] - 1) / 2 - centre[a] * stride[a] for a in range(len(size)))
    return ReceptiveField(size, tuple(stride), offset, "gradient", False, unit.layer, exact)
