"""The analytic receptive field: kernel, stride, padding and dilation of the conv and pool
modules composed along the chain of module calls that leads to a layer. Exact, but only
for a plain chain; anything else (a branch, a reshape, an in-place operation that is not a
module) is refused with where it happened (`NotAChain`)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import torch
from torch import nn

from .errors import NeuronscopeError
from .field import ReceptiveField, global_field, spatial_size
from .hooks import trace
from .outputs import select_output
from .units import Unit


class NotAChain(Exception):
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
            raise NotAChain(f"{name} pools a map of {tuple(size)} to {tuple(out)} unevenly")
        k = [s // o for s, o in zip(size, out, strict=True)]
        return k, k, [0] * n, [1] * n
    if isinstance(module, nn.Flatten):
        first, last = (d % inp.dim() for d in (module.start_dim, module.end_dim))
        if last <= first:
            return None
        if first <= 1 and last == inp.dim() - 1:
            return "global"
        if last >= 2:
            raise NotAChain(f"{name} flattens position axes into {inp.dim() - last + first}")
        return None
    if isinstance(module, (nn.Linear, nn.Bilinear)):
        if inp.dim() == 2:
            return "global"
        raise NotAChain(f"{name} ({type(module).__name__}) mixes the last axis of a "
                         f"{inp.dim()}-d input")
    activation = type(module).__module__ == "torch.nn.modules.activation"
    if isinstance(module, _POINTWISE) or (activation and not isinstance(module, _MIXING)):
        return None
    raise NotAChain(f"{name} ({type(module).__name__}) is not a conv, pool or element-wise module")


def _storage(t: torch.Tensor) -> int:
    return t.untyped_storage().data_ptr()


def _link(prev: torch.Tensor, inp: torch.Tensor, prev_name: str, name: str,
          inplace: Counter[int]) -> bool:
    """Check that `inp` is `prev` unchanged; True when a view flattened it (global)."""
    flattened = False
    if inp is not prev:
        if _storage(inp) != _storage(prev):
            raise NotAChain(f"the input of {name} is not the output of {prev_name} "
                             "(a branch or an operation that is not a module)")
        if inp.shape != prev.shape:
            if inp.dim() != 2:
                raise NotAChain(f"the output of {prev_name} is reshaped before {name}")
            flattened = True
    if inp._version > inplace[_storage(inp)]:
        raise NotAChain(f"the output of {prev_name} is changed in place before {name} by an "
                         "operation that is not a module (such as `out += x`)")
    return flattened


def analytic(model: nn.Module, unit: Unit, x: torch.Tensor) -> ReceptiveField:
    path = unit.module_path
    calls = trace(model, x)
    mine = [c for c in calls if c.name == path]
    if not mine:
        raise NeuronscopeError(f"layer {path} did not run in a forward pass of the example input")
    if len(mine) > 1:
        raise NotAChain(f"{path} ran {len(mine)} times in one forward pass")
    leaves = [c for c in calls if next(c.module.children(), None) is None]
    inside = [c for c in leaves if c.name == path or c.name.startswith(path + ".")]
    if not inside:
        raise NotAChain(f"{path} calls no leaf module")
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
            raise NotAChain(f"{call.name} takes {len(tensors)} tensors")
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
            raise NotAChain(f"{call.name} returns a {type(call.output).__name__}")
        prev, prev_name = call.output, call.name
    if mine[0] is not chain[-1]:  # a block: its output must be its last leaf's output
        out = select_output(mine[0].output, unit.keys, unit.layer)
        if not isinstance(out, torch.Tensor):
            raise NotAChain(f"{unit.layer} returns a {type(out).__name__}")
        is_global = _link(prev, out, prev_name, f"the output of {path}", inplace) or is_global
    if is_global:
        return global_field(spatial_size(x), "analytic", unit.layer)
    return ReceptiveField(tuple(r), tuple(j), tuple(start), "analytic", False, unit.layer)
