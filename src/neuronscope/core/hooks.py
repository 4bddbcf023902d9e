"""Recording and interventions. This is the only module that registers hooks.

Every context manager here registers its hooks on entry and removes exactly
those hooks on exit, also when the body raises; hooks the user registered are
never touched.

A module that runs several times in one forward pass (a shared block) is
recorded once per call: ``rec.calls(name)`` lists the outputs in call order, and
``rec[name]`` refuses with `AmbiguousCallError` rather than pick one. Ablations
and patches apply to every call.

What ``value="mean"`` means, here and in every method: the unit's mean activation
over the inputs the call is given, and over positions for a whole channel. `ablate`
is given only the batch running through the model, so its "mean" is that batch's
mean; `ablation_study` and `unit_sweep` are given a dataset, so theirs is the mean
over the whole dataset (`neuronscope.core.stats.unit_stats`). To silence units with
their dataset mean inside `ablate`, pass those means:
``ablate(model, "conv3", value=unit_stats(model, data, "conv3")[0])``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .errors import AmbiguousCallError, NeuronscopeError
from .units import (
    Unit,
    check_unit,
    find_module,
    replace_output,
    select_output,
    unit_axis,
    unit_index,
)

logger = logging.getLogger(__name__)

# fn(tensor, call) -> replacement tensor or None (keep the output as it is)
Edit = Callable[[torch.Tensor, int], "torch.Tensor | None"]


def _as_units(addresses: Any) -> list[Unit]:
    """Parse one address or many; repeated addresses are kept once, in first order."""
    if isinstance(addresses, (str, Unit)) or hasattr(addresses, "n_units"):
        addresses = [addresses]
    return list(dict.fromkeys(Unit.parse(a) for a in addresses))


@contextmanager
def _installed(model: nn.Module, edits: Sequence[tuple[Unit, Edit]],
               on_pass: Callable[[], None] | None = None) -> Iterator[None]:
    """Register one forward hook per touched module; remove them all on exit.

    A pre-hook on the model itself marks the start of each forward pass: call
    counters restart and `on_pass` runs.
    """
    by_module: dict[str, list[tuple[Unit, Edit]]] = {}
    for unit, fn in edits:
        by_module.setdefault(unit.module_path, []).append((unit, fn))
    modules = {path: find_module(model, path) for path in by_module}  # fail before any hook
    counters = {path: {"n": 0} for path in by_module}

    def new_pass(module: nn.Module, args: Any) -> None:
        for counter in counters.values():
            counter["n"] = 0
        if on_pass is not None:
            on_pass()

    handles = []
    try:
        handles.append(model.register_forward_pre_hook(new_pass))
        for path, items in by_module.items():
            handles.append(modules[path].register_forward_hook(_make_hook(items, counters[path])))
        yield
    finally:
        for h in handles:
            h.remove()


class _Axis:
    """The unit axis of one layer's output, computed once per number of dimensions."""

    def __init__(self, model: nn.Module, path: str) -> None:
        self.model, self.path, self.cache = model, path, {}

    def __call__(self, ndim: int) -> int | None:
        if ndim not in self.cache:
            self.cache[ndim] = unit_axis(self.model, self.path, ndim)
        return self.cache[ndim]


def _make_hook(items: list[tuple[Unit, Edit]], counter: dict[str, int]) -> Callable:
    def hook(module: nn.Module, args: Any, output: Any) -> Any:
        call = counter["n"]
        counter["n"] += 1
        changed = False
        for unit, fn in items:
            tensor = select_output(output, unit.keys, unit.layer)
            if not isinstance(tensor, torch.Tensor):
                raise NeuronscopeError(
                    f"layer {unit.layer} outputs a {type(tensor).__name__}, not a tensor; "
                    "address one of its elements with [KEY] (see ns.layers)."
                )
            new = fn(tensor, call)
            if new is not None:
                output = replace_output(output, unit.keys, new)
                changed = True
        return output if changed else None

    return hook


class Recording(Mapping[str, torch.Tensor]):
    """Activations recorded by `record`, keyed by the addresses asked for.

    ``rec[name]`` is the output of the latest forward pass of the model (the
    selected unit for a unit address); ``rec.calls(name)`` lists one tensor per
    call when a module ran several times in one pass.
    """

    def __init__(self, names: list[str]) -> None:
        self._names = names
        self._calls: dict[str, list[torch.Tensor]] = {n: [] for n in names}

    def __contains__(self, name: object) -> bool:
        try:
            return str(Unit.parse(name)) in self._calls
        except NeuronscopeError:
            return False

    def _key(self, name: Any) -> str:
        key = str(Unit.parse(name))
        if key not in self._calls:
            raise KeyError(f"{key!r} was not recorded; recorded: {', '.join(self._names)}")
        return key

    def calls(self, name: str | Unit) -> list[torch.Tensor]:
        """Every output of `name` in the latest forward pass, in call order."""
        return list(self._calls[self._key(name)])

    def __getitem__(self, name: str | Unit) -> torch.Tensor:  # type: ignore[override]
        key = self._key(name)
        outputs = self._calls[key]
        if not outputs:
            raise NeuronscopeError(
                f"{key} has no recorded output: run a forward pass of the model inside the "
                "`with ns.record(...)` block (the layer may not run for this input)"
            )
        if len(outputs) > 1:
            raise AmbiguousCallError(
                f"{key} ran {len(outputs)} times in one forward pass (a shared module); "
                f"use rec.calls({key!r}) for each call's output"
            )
        return outputs[0]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def _reset(self) -> None:
        for outputs in self._calls.values():
            outputs.clear()


@contextmanager
def record(model: nn.Module, layers: Any, *, detach: bool = True,
           to: torch.device | str | None = None) -> Iterator[Recording]:
    """Record the outputs of layers (or units) during forward passes.

    Outputs are copied when recorded, so later in-place operations (``ReLU(inplace=True)``,
    ``out += identity``) do not change them. With ``detach=False`` the copies stay in
    the autograd graph, for methods that need gradients. ``to`` moves them (e.g. "cpu").

    Example:
        >>> import torch, torch.nn as nn
        >>> model = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
        >>> with record(model, ["0", "0:2"]) as rec:
        ...     _ = model(torch.ones(1, 4))
        >>> rec["0"].shape, rec["0:2"].shape
        (torch.Size([1, 3]), torch.Size([1]))
    """
    units = _as_units(layers)
    rec = Recording([str(u) for u in units])

    def make(unit: Unit) -> Edit:
        key, axis_of = str(unit), _Axis(model, unit.module_path)

        def store(t: torch.Tensor, call: int) -> None:
            axis = axis_of(t.dim())
            check_unit(unit, tuple(t.shape), axis)
            value = t[unit_index(unit, t.dim(), axis)]
            value = value.detach() if detach else value
            moved = value.to(to) if to is not None else value
            # a copy, so that later in-place ops cannot reach the record
            value = moved.clone() if moved.data_ptr() == value.data_ptr() else moved
            rec._calls[key].append(value)

        return store

    with _installed(model, [(u, make(u)) for u in units], on_pass=rec._reset):
        yield rec




def _fill_values(value: Any, units: list[Unit]) -> list[Any]:
    """One fill per address: a number, "mean", or a tensor of one number per unit of a layer."""
    n = len(units)
    if isinstance(value, str):
        if value != "mean":
            raise ValueError(f"value must be a number, 'mean' or one number per unit: {value!r}")
        return ["mean"] * n
    if isinstance(value, (int, float)) or getattr(value, "ndim", None) == 0:  # numpy, 0-d tensor
        return [float(value)] * n
    values = [float(v) for v in (value.tolist() if isinstance(value, torch.Tensor) else value)]
    if n == 1 and units[0].is_layer and len(values) != 1:  # one number per unit of the layer
        return [torch.tensor(values)]
    if len(values) != n:
        raise ValueError(f"value gives {len(values)} numbers for {n} units")
    return values


def _layer_fill(t: torch.Tensor, unit: Unit, fill: torch.Tensor, axis: int | None
                ) -> torch.Tensor:
    """One number per unit of a layer, shaped to fill its whole output."""
    n = t.shape[axis] if axis is not None else 1
    if len(fill) != n:
        raise ValueError(f"value gives {len(fill)} numbers but layer {unit.layer} has {n} units")
    shape = [1] * t.dim()
    if axis is not None:
        shape[axis] = n
    return fill.to(t).view(shape).expand_as(t)


def _mean_fill(t: torch.Tensor, unit: Unit, index: tuple[Any, ...], axis: int | None
               ) -> torch.Tensor:
    """The batch mean of what `index` selects: per unit for a layer, one number for a unit."""
    if t.shape[0] == 1 and t[index].numel() == 1:
        logger.warning("ablating %s with value='mean' on a batch of one example changes nothing"
                       " (the mean is the value itself); pass dataset means instead", unit)
    if unit.channel is None and axis is not None:
        dims = [d for d in range(t.dim()) if d != axis]
        return t.mean(dim=dims, keepdim=True)
    return t[index].mean()


@contextmanager
def ablate(model: nn.Module, units: Any, value: float | str | Sequence[float] = 0.0
           ) -> Iterator[None]:
    """Silence units during forward passes: their output is replaced by `value`.

    `value` is a number, ``"mean"`` (the unit's mean over the current batch, and over
    positions for a whole channel; see the module docstring), one number per address,
    or for one layer address one number per unit of the layer (e.g. dataset means from
    `unit_stats`). A layer address silences every unit of the layer.

    Example:
        >>> import torch, torch.nn as nn
        >>> model = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
        >>> with ablate(model, ["0:1"], value=0.0):
        ...     y = model(torch.ones(2, 4))
        >>> bool((y[:, 1] == 0).all())
        True
    """
    unit_list = _as_units(units)
    fills = _fill_values(value, unit_list)
    groups: dict[str, list[tuple[Unit, Any]]] = {}
    for unit, fill in zip(unit_list, fills, strict=True):
        groups.setdefault(unit.layer, []).append((unit, fill))

    def make(members: list[tuple[Unit, Any]]) -> Edit:
        axis_of = _Axis(model, members[0][0].module_path)

        def edit(t: torch.Tensor, call: int) -> torch.Tensor:
            axis = axis_of(t.dim())
            out = t.clone()
            for unit, fill in members:
                check_unit(unit, tuple(t.shape), axis)
                index = unit_index(unit, t.dim(), axis)
                if isinstance(fill, torch.Tensor):
                    out[index] = _layer_fill(t, unit, fill, axis)[index]
                elif fill == "mean":
                    out[index] = _mean_fill(t, unit, index, axis)
                else:
                    out[index] = fill
            return out

        return edit

    edits = [(members[0][0], make(members)) for members in groups.values()]
    with _installed(model, [(Unit(u.layer), fn) for u, fn in edits]):
        yield


@contextmanager
def patch(model: nn.Module, layer: str | Unit, fn: Callable[[torch.Tensor], torch.Tensor]
          ) -> Iterator[None]:
    """Replace a layer's output by ``fn(output)`` during forward passes.

    Example:
        >>> import torch, torch.nn as nn
        >>> model = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
        >>> with patch(model, "0", lambda t: t * 0 + 1):
        ...     y = model(torch.zeros(1, 4))
        >>> y.tolist()
        [[1.0, 1.0, 1.0]]
    """
    unit = Unit.parse(layer)
    if not unit.is_layer:
        raise ValueError(f"patch takes a layer address, not the unit {unit}")
    with _installed(model, [(unit, lambda t, call: fn(t))]):
        yield


@contextmanager
def tap(model: nn.Module, layers: Any, fn: Callable[[str, torch.Tensor], None]
        ) -> Iterator[None]:
    """Call ``fn(layer, output)`` the moment each layer produces its output; change nothing.

    Nothing is copied: `fn` reads the tensor at once (a reduction, a statistic) and
    must not keep it, since later in-place operations may change it. This is what
    streaming methods use instead of `record`. A layer that runs twice in one pass
    is seen twice.

    Example:
        >>> import torch, torch.nn as nn
        >>> model = nn.Sequential(nn.Identity(), nn.ReLU(inplace=True))
        >>> seen = {}
        >>> with tap(model, ["0"], lambda name, t: seen.update({name: float(t.min())})):
        ...     y = model(-torch.ones(1, 4))
        >>> seen["0"], float(y.min())  # seen before the in-place ReLU changed it
        (-1.0, 0.0)
    """
    units = _as_units(layers)
    for unit in units:
        if not unit.is_layer:
            raise ValueError(f"tap takes layer addresses, not the unit {unit}")

    def make(name: str) -> Edit:
        def call(t: torch.Tensor, _: int) -> None:
            fn(name, t)

        return call

    with _installed(model, [(u, make(str(u))) for u in units]):
        yield


@dataclass
class Call:
    """One module call seen by `trace`: start order, the module, its inputs and output."""

    name: str
    module: nn.Module
    order: int
    inputs: tuple[Any, ...]
    output: Any


def trace(model: nn.Module, *args: Any, **kwargs: Any) -> list[Call]:
    """Run one forward pass and list every submodule call, in the order calls started.

    Inputs and outputs are kept as they were (no copies): for structure, shapes and
    identity checks. Runs without gradients.

    Example:
        >>> import torch, torch.nn as nn
        >>> calls = trace(nn.Sequential(nn.Linear(4, 3), nn.ReLU()), torch.ones(1, 4))
        >>> [c.name for c in calls]
        ['0', '1']
    """
    calls: list[Call] = []
    pending: dict[int, list[int]] = {}
    handles = []

    def pre(name: str) -> Callable:
        def hook(module: nn.Module, inputs: Any) -> None:
            pending.setdefault(id(module), []).append(len(calls))
            calls.append(Call(name, module, len(calls), inputs, None))
        return hook

    def post(module: nn.Module, inputs: Any, output: Any) -> None:
        calls[pending[id(module)].pop()].output = output

    try:
        for name, module in model.named_modules():
            if name:
                handles.append(module.register_forward_pre_hook(pre(name)))
                handles.append(module.register_forward_hook(post))
        with torch.no_grad():
            model(*args, **kwargs)
    finally:
        for h in handles:
            h.remove()
    return calls


def forward_kwargs(example: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Turn an example input (tensor, tuple of args, or dict of kwargs) into args, kwargs."""
    if isinstance(example, dict):
        return (), dict(example)
    if isinstance(example, (tuple, list)):
        return tuple(example), {}
    return (example,), {}

