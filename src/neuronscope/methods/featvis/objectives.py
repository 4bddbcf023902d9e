"""Objectives: what feature visualization maximizes, one value per image of the batch.

An `Objective` maps a `Context` (the recorded layer outputs, the images, the model
output) to a tensor [N]: image i's score. Objectives compose: ``a + b``, ``a - b``,
``2 * a``, ``a * b`` (per image), ``-a``. A string address is the natural objective
of what it names: ``"conv3:17"`` the mean of channel 17, ``"conv3:17@4,5"`` that one
neuron, ``"conv3"`` the whole layer (DeepDream).

Penalties on the image (`l1`, `l2`, `total_variation`) are positive numbers to
subtract: ``"conv3:17" - 1e-3 * total_variation()``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from neuronscope.core.units import Unit


@dataclass
class Context:
    """What an objective may read: recorded outputs by layer, their unit axes, the
    (transformed) images in display space and the model output."""

    acts: dict[str, torch.Tensor]
    axes: dict[str, int | None]
    image: torch.Tensor
    output: Any = None
    value_range: tuple[float, float] = (0.0, 1.0)

    @property
    def middle(self) -> float:
        """The middle of the input's value range (mid-gray)."""
        return (self.value_range[0] + self.value_range[1]) / 2

    def logits(self) -> torch.Tensor:
        """The model output: a tensor, or the first tensor (``logits`` key) of a tuple or dict."""
        out = self.output
        if isinstance(out, dict):
            out = out.get("logits", next(iter(out.values())))
        while isinstance(out, (tuple, list)):
            out = out[0]
        return out

    def units_first(self, layer: str) -> torch.Tensor:
        """The layer's output as [N, units, *positions]."""
        t = self.acts[layer]
        axis = self.axes.get(layer)
        if axis is None:
            return t.reshape(t.shape[0], 1)
        return t.movedim(axis, 1)


@dataclass
class Objective:
    """A per-image score to maximize; see the module docstring.

    Example:
        >>> obj = channel("conv3", 17) - 0.5 * channel("conv3", 2)
        >>> sorted(obj.layers), obj.name
        (['conv3'], 'conv3:17 - 0.5 * conv3:2')
    """

    fn: Callable[[Context], torch.Tensor]
    layers: frozenset[str] = field(default_factory=frozenset)
    name: str = "objective"
    needs_output: bool = False

    def __call__(self, ctx: Context) -> torch.Tensor:
        return self.fn(ctx)

    def _join(self, other: Any, op: Callable, sym: str) -> Objective:
        other = as_objective(other) if not isinstance(other, (int, float)) else other
        if isinstance(other, Objective):
            return Objective(lambda c: op(self(c), other(c)), self.layers | other.layers,
                             f"{self.name} {sym} {other.name}",
                             self.needs_output or other.needs_output)
        return Objective(lambda c: op(self(c), other), self.layers, f"{self.name} {sym} {other}",
                         self.needs_output)

    def __add__(self, other: Any) -> Objective:
        return self._join(other, lambda a, b: a + b, "+")

    def __radd__(self, other: Any) -> Objective:
        return self if isinstance(other, (int, float)) and other == 0 else self + other

    def __sub__(self, other: Any) -> Objective:
        return self._join(other, lambda a, b: a - b, "-")

    def __rsub__(self, other: Any) -> Objective:
        return (-self) + other

    def __mul__(self, other: Any) -> Objective:
        return self._join(other, lambda a, b: a * b, "*")

    def __rmul__(self, other: Any) -> Objective:
        if isinstance(other, (int, float)):
            return Objective(lambda c: other * self(c), self.layers, f"{other} * {self.name}",
                             self.needs_output)
        return self * other

    def __neg__(self) -> Objective:
        return Objective(lambda c: -self(c), self.layers, f"-({self.name})", self.needs_output)


def as_objective(target: Any) -> Objective:
    """An Objective from an Objective, a Unit or an address string (``"a:1 + b:2"`` sums)."""
    if isinstance(target, Objective):
        return target
    if isinstance(target, str) and "+" in target:
        return sum(as_objective(part.strip()) for part in target.split("+"))  # type: ignore[return-value]
    unit = Unit.parse(target)
    if unit.channel is None:
        return layer(unit.layer)
    if unit.pos is not None:
        return neuron(unit.layer, unit.channel, unit.pos)
    return channel(unit.layer, unit.channel)


def neuron(layer_name: str, unit: int, pos: Sequence[int] | None = None) -> Objective:
    """One unit at one position (default: the centre of the map)."""

    def fn(c: Context) -> torch.Tensor:
        t = c.units_first(layer_name)[:, unit]
        where = tuple(pos) if pos is not None else tuple(s // 2 for s in t.shape[1:])
        return t[(slice(None), *where)]

    at = "@" + ",".join(map(str, pos)) if pos is not None else ""
    return Objective(fn, frozenset({layer_name}), f"{layer_name}:{unit}{at}")


def channel(layer_name: str, unit: int) -> Objective:
    """The mean of one channel over every position."""
    return Objective(lambda c: c.units_first(layer_name)[:, unit].reshape(
        c.acts[layer_name].shape[0], -1).mean(1), frozenset({layer_name}), f"{layer_name}:{unit}")


def layer(layer_name: str) -> Objective:
    """DeepDream's objective: the mean square of the whole layer."""
    return Objective(lambda c: c.acts[layer_name].pow(2).flatten(1).mean(1),
                     frozenset({layer_name}), layer_name)


def class_logit(index: int) -> Objective:
    """The model's output (logit, before any softmax) for one class."""
    return Objective(lambda c: c.logits()[:, index], frozenset(), f"logit {index}",
                     needs_output=True)


def direction(layer_name: str, vector: torch.Tensor, cossim_pow: float = 1.0) -> Objective:
    """A direction in the layer's unit space: dot product weighted by cosine similarity
    (clamped below at 0.1) to the power `cossim_pow`, averaged over positions."""

    def fn(c: Context) -> torch.Tensor:
        t = c.units_first(layer_name)
        t = t.reshape(t.shape[0], t.shape[1], -1).transpose(1, 2)  # [N, P, U]
        v = vector.to(t).view(1, 1, -1)
        dot = (t * v).sum(-1)
        cos = dot / (t.norm(dim=-1) * v.norm() + 1e-8)
        return (dot * cos.clamp_min(0.1) ** cossim_pow).mean(1)

    return Objective(fn, frozenset({layer_name}), f"direction({layer_name})")


def diversity(layer_name: str, groups: torch.Tensor | None = None) -> Objective:
    """Minus the mean cosine similarity of an image's Gram matrix to those of the other
    images of its group (all images: one group): higher when the group's images differ."""

    def fn(c: Context) -> torch.Tensor:
        t = c.units_first(layer_name)
        n, u = t.shape[:2]
        flat = t.reshape(n, u, -1)
        gram = F.normalize((flat @ flat.transpose(1, 2)).reshape(n, -1), dim=1)
        sim = gram @ gram.T
        g = groups.to(sim.device) if groups is not None else torch.zeros(n, device=sim.device)
        same = (g.view(-1, 1) == g.view(1, -1)) & ~torch.eye(n, dtype=torch.bool,
                                                           device=sim.device)
        count = same.sum(1).clamp_min(1)
        return -(sim * same).sum(1) / count

    return Objective(fn, frozenset({layer_name}), f"diversity({layer_name})")


def l1(center: float | None = None) -> Objective:
    """Mean absolute distance of the image from `center` (default: the middle of the
    model's value range; a penalty: subtract it)."""

    def fn(c: Context) -> torch.Tensor:
        mid = c.middle if center is None else center
        return (c.image - mid).abs().flatten(1).mean(1)

    return Objective(fn, frozenset(), "l1")


def l2(center: float | None = None) -> Objective:
    """Root mean square distance of the image from `center` (default: the middle of the
    model's value range; a penalty: subtract it)."""

    def fn(c: Context) -> torch.Tensor:
        mid = c.middle if center is None else center
        return (c.image - mid).pow(2).flatten(1).mean(1).add(1e-12).sqrt()

    return Objective(fn, frozenset(), "l2")


def total_variation() -> Objective:
    """Mean absolute difference of neighbouring pixels (a penalty: subtract it)."""

    def fn(c: Context) -> torch.Tensor:
        x = c.image
        dy = (x[..., 1:, :] - x[..., :-1, :]).abs().flatten(1).mean(1)
        dx = (x[..., :, 1:] - x[..., :, :-1]).abs().flatten(1).mean(1)
        return dx + dy

    return Objective(fn, frozenset(), "total_variation")


def per_image(targets: Sequence[Any], repeats: int = 1) -> Objective:
    """Image i (of ``len(targets) * repeats``, target-major) scored by
    ``targets[i // repeats]``. Plain units of one layer are gathered in one indexing
    operation, so a whole layer's units cost one step, not one per unit."""
    objectives = [as_objective(t) if not isinstance(t, (str, Unit)) or _is_sum(t) else None
                  for t in targets]
    units = [None if o is not None else Unit.parse(t) for t, o in zip(targets, objectives,
                                                                       strict=True)]
    groups: dict[tuple[str, bool], list[int]] = {}
    for i, u in enumerate(units):
        if u is not None and u.channel is not None:
            groups.setdefault((u.layer, u.pos is not None), []).append(i)
        elif u is not None:
            objectives[i] = layer(u.layer)
    layers = frozenset({u.layer for u in units if u is not None}).union(
        *[o.layers for o in objectives if o is not None])
    needs_output = any(o.needs_output for o in objectives if o is not None)

    def fn(c: Context) -> torch.Tensor:
        n = len(targets) * repeats
        out = c.image.new_zeros(n)
        for (name, at_pos), members in groups.items():
            t = c.units_first(name)
            rows = torch.tensor([i * repeats + r for i in members for r in range(repeats)],
                                device=t.device)
            ch = torch.tensor([units[i].channel for i in members for _ in range(repeats)],
                              device=t.device)
            if at_pos:
                pos = [torch.tensor([units[i].pos[a] for i in members for _ in range(repeats)],
                                    device=t.device) for a in range(t.dim() - 2)]
                vals = t[(rows, ch, *pos)]
            else:
                vals = t[rows, ch].reshape(len(rows), -1).mean(1)
            out = out.index_put((rows,), vals)
        for i, o in enumerate(objectives):
            if o is not None:
                rows = torch.arange(i * repeats, (i + 1) * repeats, device=out.device)
                out = out.index_put((rows,), o(c)[rows])
        return out

    names = [str(t) if not isinstance(t, Objective) else t.name for t in targets]
    return Objective(fn, layers, ", ".join(names), needs_output)


def _is_sum(target: Any) -> bool:
    return isinstance(target, str) and "+" in target


def needed_layers(objectives: Iterable[Objective]) -> list[str]:
    out: set[str] = set()
    for o in objectives:
        out |= set(o.layers)
    return sorted(out)
