"""Hooks: the only module that registers them on a model.

`installed` registers one forward hook per touched module on entry and removes
exactly those hooks on exit, also when the body raises; hooks the user registered are
never touched. Recording (recording.py) and ablation (ablate.py) are built on it; here
are the small interventions (`patch`, `tap`) and `trace`, which lists every call.
A module that runs several times in one forward pass is edited at every call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .axes import Flow, cached_axis, known
from .errors import NeuronscopeError
from .outputs import replace_output, select_output
from .units import Unit, find_module

# fn(tensor, call) -> replacement tensor or None (keep the output as it is)
Edit = Callable[[torch.Tensor, int], "torch.Tensor | None"]


def as_units(addresses: Any) -> list[Unit]:
    """Parse one address or many; repeated addresses are kept once, in first order."""
    if isinstance(addresses, (str, Unit)) or hasattr(addresses, "n_units"):
        addresses = [addresses]
    return list(dict.fromkeys(Unit.parse(a) for a in addresses))


@contextmanager
def installed(model: nn.Module, edits: Sequence[tuple[Unit, Edit]],
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
        if not known(model):  # follow the first pass to learn where units lie (axes.py)
            flow = Flow(model)
            following = _follow(model, flow)

            def followed(module: nn.Module, args: Any, output: Any) -> None:
                flow.done()
                for h in following:
                    h.remove()

            following.append(model.register_forward_hook(followed))
            handles.extend(following)
        for path, items in by_module.items():
            handles.append(modules[path].register_forward_hook(_make_hook(items, counters[path])))
        yield
    finally:
        for h in handles:
            h.remove()


class UnitAxis:
    """The unit axis of one layer's output (see axes.py), once per number of dimensions."""

    def __init__(self, model: nn.Module, layer: str) -> None:
        self.model, self.layer, self.cache = model, layer, {}

    def __call__(self, ndim: int) -> int | None:
        if ndim not in self.cache:
            self.cache[ndim] = cached_axis(self.model, self.layer, ndim)
        return self.cache[ndim]


def hookable(model: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    """Every submodule of `model` (by path) that takes Python hooks: not a TorchScript
    module, nor anything inside one (its calls run as one compiled graph, unseen).

    Example:
        >>> model = nn.Sequential(nn.Conv2d(1, 1, 1), torch.jit.script(nn.Sequential(nn.ReLU())))
        >>> [name for name, _ in hookable(model)]
        ['0']
    """
    scripted: list[str] = []
    for name, module in model.named_modules():
        if not name or any(name.startswith(p + ".") for p in scripted):
            continue
        if isinstance(module, torch.jit.ScriptModule):
            scripted.append(name)
            continue
        yield name, module


def _follow(model: nn.Module, flow: Flow) -> list[Any]:
    """Hooks that feed every module call of `model` to `flow`; returns their handles."""
    handles = []
    for name, module in hookable(model):
        if name:
            def pre(module: nn.Module, args: Any) -> None:
                flow.start()

            def post(module: nn.Module, args: Any, output: Any, name: str = name) -> None:
                flow.finish(name, module, args, output)

            handles.append(module.register_forward_pre_hook(pre))
            handles.append(module.register_forward_hook(post))
    return handles


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
    with installed(model, [(unit, lambda t, call: fn(t))]):
        yield


class StopPass(BaseException):  # noqa: N818 (a signal, not an error)
    """Raised by a `tap` callback once the pass has produced everything it needs: the
    caller catches it around the forward pass, and the rest of the model does not run. A
    BaseException, so that a model's own ``except Exception`` does not take it for a
    failure of its own and run a fallback instead."""


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
    units = as_units(layers)
    for unit in units:
        if not unit.is_layer:
            raise ValueError(f"tap takes layer addresses, not the unit {unit}")

    def make(name: str) -> Edit:
        def call(t: torch.Tensor, _: int) -> None:
            fn(name, t)

        return call

    with installed(model, [(u, make(str(u))) for u in units]):
        yield


@dataclass
class Call:
    """One module call seen by `trace`: start order, the module, its inputs and output."""

    name: str
    module: nn.Module
    order: int
    inputs: tuple[Any, ...]
    output: Any


def trace(model: nn.Module, *args: Any, flow: Flow | None = None, **kwargs: Any
          ) -> list[Call]:
    """Run one forward pass and list every submodule call, in the order calls started.

    Inputs and outputs are kept as they were (no copies): for structure, shapes and
    identity checks. Runs without gradients. With `flow`, the pass is also followed to
    learn where each output's units lie (axes.py).

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
        for name, module in hookable(model):
            handles.append(module.register_forward_pre_hook(pre(name)))
            handles.append(module.register_forward_hook(post))
        if flow is not None:
            handles.extend(_follow(model, flow))
        with torch.no_grad():
            model(*args, **kwargs)
        if flow is not None:
            flow.done()
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



class _RedirectedClamp(torch.autograd.Function):
    """``clamp(x, lo, hi)`` whose gradient, for an image where the clamp passes none
    (every position outside (lo, hi)), lets through what would bring x back inside."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.lo, ctx.hi = lo, hi
        return x.clamp(lo, hi)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (x,) = ctx.saved_tensors
        inside = grad * ((x > ctx.lo) & (x < ctx.hi))
        away = ((x <= ctx.lo) & (grad > 0)) | ((x >= ctx.hi) & (grad < 0))
        redirected = grad.masked_fill(away, 0.0)
        dead = inside.flatten(1).abs().amax(1) == 0
        return torch.where(dead.view(-1, *[1] * (x.dim() - 1)), redirected, inside), None, None


@contextmanager
def redirected_relu_grad(model: nn.Module) -> Iterator[None]:
    """Within the block, every ``nn.ReLU`` and ``nn.ReLU6`` of `model` passes, for an
    image that its ordinary gradient would leave stuck (the unit off everywhere), the
    gradient that turns it back on (Lucid's ``redirected_relu_grad``); forward values are
    unchanged. In-place activations run out of place meanwhile, so their input is kept.

    Example:
        >>> import torch, torch.nn as nn
        >>> model = nn.Sequential(nn.Linear(2, 1), nn.ReLU())
        >>> _ = nn.init.constant_(model[0].weight, 1.0), nn.init.constant_(model[0].bias, -9.0)
        >>> x = torch.ones(1, 2, requires_grad=True)
        >>> with redirected_relu_grad(model):  # descending -y would raise the dead unit
        ...     (-model(x)).sum().backward()
        >>> bool((x.grad < 0).all())
        True
    """
    acts = [m for m in model.modules() if type(m) in (nn.ReLU, nn.ReLU6)]
    inplace = [m.inplace for m in acts]

    def hook(module: nn.Module, args: Any, output: Any) -> torch.Tensor:
        hi = 6.0 if isinstance(module, nn.ReLU6) else float("inf")
        return _RedirectedClamp.apply(args[0], 0.0, hi)

    handles = []
    try:
        for m in acts:
            m.inplace = False
            handles.append(m.register_forward_hook(hook))
        yield
    finally:
        for h in handles:
            h.remove()
        for m, flag in zip(acts, inplace, strict=True):
            m.inplace = flag


def optimizer_hooks(optimizer: torch.optim.Optimizer, before: Callable[[], None],
                    after: Callable[[], None]) -> list[Any]:
    """Call `before()` just before and `after()` just after every ``optimizer.step()``;
    the handles returned remove both hooks (``h.remove()``). A step the optimizer skips
    (as a gradient scaler does on overflow) calls neither.

    Example:
        >>> import torch
        >>> w = torch.nn.Parameter(torch.zeros(1))
        >>> opt, seen = torch.optim.SGD([w], lr=1.0), []
        >>> handles = optimizer_hooks(opt, lambda: seen.append(w.item()),
        ...                           lambda: seen.append(w.item()))
        >>> w.grad = torch.ones(1); opt.step()
        >>> for h in handles: h.remove()
        >>> opt.step(); seen
        [0.0, -1.0]
    """
    return [optimizer.register_step_pre_hook(lambda opt, args, kwargs: before()),
            optimizer.register_step_post_hook(lambda opt, args, kwargs: after())]
