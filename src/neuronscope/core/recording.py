"""Recording what layers output during forward passes: `record` and `Recording`.

Outputs are copied as they are made, so later in-place operations cannot change
them. A module that runs several times in one forward pass (a shared block) is
recorded once per call: ``rec.calls(name)`` lists the outputs in call order, and
``rec[name]`` refuses with `AmbiguousCallError` rather than pick one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from .errors import AmbiguousCallError, NeuronscopeError
from .hooks import Edit, UnitAxis, as_units, installed
from .units import Unit, check_unit, unit_index


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
                f"{key} ran {len(outputs)} times in one forward pass (a shared module, or "
                "a recurrent state run again while an edit settles: the last call is the "
                f"settled one); use rec.calls({key!r}) for each call's output"
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
    units = as_units(layers)
    rec = Recording([str(u) for u in units])

    def make(unit: Unit) -> Edit:
        key, axis_of = str(unit), UnitAxis(model, unit.layer)

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

    with installed(model, [(u, make(u)) for u in units], on_pass=rec._reset):
        yield rec
