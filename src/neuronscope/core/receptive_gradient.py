"""The gradient footprint: backpropagate from a unit at the centre of a layer's map to the
input over seeded random inputs and measure the region that gets a gradient, then from
its neighbour for the stride. Works for any graph, cut by the input's border. Token ids
are measured on the first embedding's output (one vector per token)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .axes import cached_axis
from .errors import NeuronscopeError
from .field import ReceptiveField, global_field
from .hooks import trace
from .recording import record
from .units import Unit, unit_axis


def _first_module(model: nn.Module) -> str:
    """The first registered submodule: the layout of the input follows it."""
    return next((name for name, _ in model.named_modules() if name), "")


def _first_embedding(model: nn.Module, x: torch.Tensor) -> nn.Embedding:
    """The first ``nn.Embedding`` that runs on the token ids `x`; refused without one."""
    for call in trace(model, x):
        if isinstance(call.module, nn.Embedding):
            return call.module
    raise NeuronscopeError(
        f"the input holds {x.dtype} values (token ids?) and no nn.Embedding reads them: "
        "an integer input has no gradient to measure a receptive field with")


def _perturbed(model: nn.Module, unit: Unit, x: torch.Tensor, n: int, g: torch.Generator
               ) -> tuple[torch.Tensor, list[int], torch.Tensor]:
    """`n` random inputs like `x` that the layer's output depends on: (the leaf to take
    gradients against, its position axes, the layer's output)."""
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
        return leaves[0], list(range(1, x.dim())), rec[unit.layer]  # one vector per token
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
    return xb, in_axes, rec[unit.layer]


def _footprint(y: torch.Tensor, xb: torch.Tensor, spatial: list[int], in_axes: list[int],
               pos: list[int], what: str) -> tuple[list[int], list[int]]:
    """(starts, ends) per input axis of the inputs that give the unit at `pos` a gradient."""
    index: list[Any] = [slice(None)] * y.dim()
    for d, p in zip(spatial, pos, strict=True):
        index[d] = p
    (grad,) = torch.autograd.grad(y[tuple(index)].sum(), xb, retain_graph=True)
    others = [0] + [d for d in range(1, xb.dim()) if d not in in_axes]
    seen = grad.abs().mean(dim=others) > 0
    if not seen.any():
        raise NeuronscopeError(
            f"the unit of {what} at {tuple(pos)} got no gradient from the input for any of "
            "the random inputs (dead units?); try more samples or another seed")
    starts, ends = [], []
    for a in range(seen.dim()):
        hit = seen.movedim(a, 0).reshape(seen.shape[a], -1).any(dim=1)
        where = torch.nonzero(hit).flatten()
        starts.append(int(where.min()))
        ends.append(int(where.max()) + 1)
    return starts, ends


def gradient(model: nn.Module, unit: Unit, x: torch.Tensor, samples: int, seed: int
             ) -> ReceptiveField:
    """The footprint of the centre unit of `unit`'s layer over `samples` random inputs
    (see the module docstring); its neighbour's gives the stride."""
    xb, in_axes, y = _perturbed(model, unit, x, max(1, samples),
                                torch.Generator().manual_seed(seed))
    in_size = tuple(xb.shape[a] for a in in_axes)
    axis = cached_axis(model, unit.layer, y.dim())
    spatial = [d for d in range(1, y.dim()) if d != axis] if axis is not None else []
    if not spatial:
        return global_field(in_size, "gradient", unit.layer)
    if len(spatial) != len(in_axes):
        raise NeuronscopeError(
            f"{unit.layer} has {len(spatial)} position axes {tuple(y.shape[d] for d in spatial)} "
            f"but the input has {len(in_axes)} {in_size}: positions cannot be mapped to pixels"
        )
    if not y.requires_grad:
        raise NeuronscopeError(f"{unit.layer} does not depend on the input")
    sizes = [y.shape[d] for d in spatial]
    centre = [(s - 1) // 2 for s in sizes]
    s0, e0 = _footprint(y, xb, spatial, in_axes, centre, unit.layer)
    size = tuple(e - s for s, e in zip(s0, e0, strict=True))
    if all(s == 1 for s in sizes) and size == in_size:
        return global_field(in_size, "gradient", unit.layer)
    stride, exact = list(in_size), True
    for a, s in enumerate(sizes):
        if s == 1:
            continue  # one position: no neighbour to measure a stride with
        s1, e1 = _footprint(y, xb, spatial, in_axes,
                            [c + (b == a) for b, c in enumerate(centre)], unit.layer)
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
