"""`Runner`: runs the model on display-space images for the objectives, recording the
layers they read and stopping the forward pass after the deepest of them."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from neuronscope.core.errors import NeuronscopeError
from neuronscope.core.hooks import StopPass, tap
from neuronscope.core.layers import LayerInfo, find_layer, layer_table
from neuronscope.core.model import model_device, model_dtype
from neuronscope.core.recording import record
from neuronscope.core.spec import InputSpec
from neuronscope.core.units import Unit, check_unit

from .objectives import Context, Objective


def _last_to_finish(started: list[str]) -> str:
    """Of layers listed in the order they start, the one that finishes last: the last to
    start, or a block around it (calls nest, so an enclosing block ends after it)."""
    last = Unit.parse(started[-1]).module_path
    for name in started:
        path = Unit.parse(name).module_path
        if last.startswith(path + ".") and len(path) < len(last):
            return name
    return started[-1]


class Runner:
    """Runs the model on display-space images and returns a `Context` for the objectives.

    Records the layers the objectives read (with their graph) and stops the forward
    pass after the deepest of them unless the model output is needed.
    """

    def __init__(self, model: nn.Module, objective: Objective, spec: InputSpec | None,
                 shape: tuple[int, int, int], units: list[Unit]) -> None:
        self.model, self.objective, self.spec, self.shape = model, objective, spec, shape
        self.units, self.active, self.same_size = units, False, True
        self.layers = sorted(objective.layers)
        self.stack: list[Any] = []

    def __enter__(self) -> Runner:
        infos = None
        if self.layers:
            infos = self._infos()
            for name in self.layers:  # a shared module: its calls would be mixed
                find_layer(self.model, infos, name, single_call=True)
            for unit in self.units:
                info = infos[unit.layer]
                check = unit if self.same_size else Unit(unit.layer, unit.channel)
                check_unit(check, (1, *info.shape), info.unit_axis)
        self.axes = {name: infos[name].unit_axis for name in self.layers} if infos else {}
        self.rec_cm = record(self.model, self.layers, detach=False)
        self.rec = self.rec_cm.__enter__()
        self.stop_cm = None
        if infos and not self.objective.needs_output:
            deepest = _last_to_finish([name for name in infos if name in self.layers])
            self.stop_cm = tap(self.model, [Unit.parse(deepest).module_path], self._stop)
            self.stop_cm.__enter__()
        return self

    def _infos(self) -> dict[str, LayerInfo]:
        """Layer outputs at the image size; if the whole model cannot run at that size (a
        linear head made for another), the layout found at the model's own size."""
        c, h, w = self.shape
        x = torch.zeros(1, c, h, w, device=self._device())
        self.same_size = True
        try:
            return layer_table(self.model, self._to_model(x))
        except RuntimeError:
            if self.spec is None or tuple(self.spec.shape) == self.shape:
                raise
            own = torch.zeros(1, *self.spec.shape, device=self._device())
            self.same_size = False
            return layer_table(self.model, self._to_model(own))

    def __exit__(self, *exc: Any) -> None:
        if self.stop_cm is not None:
            self.stop_cm.__exit__(*exc)
        self.rec_cm.__exit__(*exc)

    def _stop(self, name: str, t: torch.Tensor) -> None:
        if self.active:  # a forward pass of the caller's own (a callback) runs to the end
            raise StopPass  # after the deepest needed layer

    def _device(self) -> torch.device:
        return model_device(self.model)

    def _to_model(self, x: torch.Tensor) -> torch.Tensor:
        x = self.spec.to_model(x) if self.spec is not None else x
        dtype = model_dtype(self.model)
        return x.to(dtype) if dtype is not None else x

    def __call__(self, x: torch.Tensor) -> Context:
        output = None
        self.active = True
        try:
            output = self.model(self._to_model(x))
        except StopPass:
            pass
        except RuntimeError as exc:
            if self.same_size:
                raise
            raise NeuronscopeError(
                f"the model cannot run on {self.shape[1]}x{self.shape[2]} images up to the "
                f"layers asked for ({type(exc).__name__}: {exc}); pick layers below its fixed-"
                f"size part, or the model's own size {tuple(self.spec.shape[1:])}"  # type: ignore[union-attr]
            ) from exc
        finally:
            self.active = False
        acts = {name: self.rec[name] for name in self.layers}
        lo_hi = self.spec.value_range if self.spec is not None else (0.0, 1.0)
        return Context(acts, self.axes, x, output, lo_hi)

