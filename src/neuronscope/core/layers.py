"""Listing a model's addressable layers: `layers(model, example_input)`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .axes import Flow, cached_axis
from .errors import AddressError, AmbiguousCallError, LayerNotFoundError, NeuronscopeError
from .hooks import forward_kwargs, trace
from .model import model_device, model_dtype
from .outputs import leaves
from .spec import input_spec
from .units import Unit, check_unit, no_layer, suggest

_KINDS: list[tuple[str, tuple[type, ...]]] = [
    ("conv", (nn.modules.conv._ConvNd,)),
    ("linear", (nn.Linear, nn.Bilinear)),
    ("pool", (nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd,
              nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd,
              nn.modules.pooling._LPPoolNd)),
    ("norm", (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm,
              nn.LocalResponseNorm)),
    ("attention", (nn.MultiheadAttention,)),
    ("recurrent", (nn.RNNBase, nn.RNNCellBase)),
    ("embedding", (nn.Embedding, nn.EmbeddingBag)),
    ("dropout", (nn.modules.dropout._DropoutNd,)),
    ("reshape", (nn.Flatten, nn.Unflatten)),
]


def layer_kind(module: nn.Module) -> str:
    """A short kind for a module: conv, linear, pool, norm, activation, block, ...

    Example:
        >>> block = nn.Sequential(nn.ReLU())
        >>> layer_kind(nn.Conv2d(1, 2, 3)), layer_kind(nn.ReLU()), layer_kind(block)
        ('conv', 'activation', 'block')
    """
    for kind, types in _KINDS:
        if isinstance(module, types):
            return kind
    if type(module).__module__ == "torch.nn.modules.activation":
        return "activation"
    if any(True for _ in module.children()):
        return "block"
    return "other"


@dataclass(frozen=True)
class LayerInfo:
    """One addressable layer output.

    ``shape`` is the output shape without the batch axis; ``unit_axis`` the axis of
    the batched output that holds units (None for one unit per example); ``calls`` how
    many times the module ran in one forward pass; ``lead``: the traced output's first
    axis and the traced batch, where they differ (a layer that does not put the batch
    first, such as one after a time-first RNN), else None.
    """

    name: str
    kind: str
    shape: tuple[int, ...]
    n_units: int
    module_type: str
    unit_axis: int | None
    calls: int = 1
    lead: tuple[int, int] | None = None

    def __str__(self) -> str:
        lead = (f" (its first axis, {self.lead[0]}, is not the batch of {self.lead[1]}: the "
                f"batch is in the shape)" if self.lead else "")
        return (f"{self.name} ({self.kind}, {self.module_type}) {self.shape}: {self.n_units} "
                f"units{lead}")


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put every module in eval mode for the block, then restore each one's own mode."""
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        yield model
    finally:
        for m, training in modes.items():
            m.training = training


@contextmanager
def _as_it_is(model: nn.Module) -> Iterator[nn.Module]:
    """Run in the model's own modes, then put back every buffer and the random state."""
    import torch

    saved = [(b, b.detach().clone()) for b in model.buffers()]
    with torch.random.fork_rng(devices=[]):
        try:
            yield model
        finally:
            with torch.no_grad():
                for b, value in saved:
                    b.copy_(value)


def resolve_example(model: nn.Module, example_input: Any = None) -> Any:
    """The example input given, or one made from the model's `InputSpec`."""
    if example_input is not None:
        return example_input
    spec = input_spec(model)
    if spec is None:
        raise NeuronscopeError(
            f"{type(model).__name__} carries no input description: pass an example input "
            "(a batched tensor such as torch.zeros(1, 3, 64, 64))"
        )
    x = spec.example(device=model_device(model))
    dtype = model_dtype(model)
    return x.to(dtype) if dtype is not None and x.is_floating_point() else x


def layers(model: nn.Module, example_input: Any = None) -> list[LayerInfo]:
    """Every addressable layer of `model`, in the order the layers first run.

    One forward pass on `example_input` (a batched tensor, a tuple of arguments or a
    dict of keyword arguments; optional for models with an `InputSpec`) finds the
    output shapes. Tuple, list and dict outputs are listed per tensor element
    (``lstm[0]``, ``lstm[1][0]``). The pass runs without gradients, in eval mode; a model
    in training mode is traced in training mode (so layers that run only in training,
    such as auxiliary heads, are listed), with its buffers and the random state put
    back afterwards: batch-norm statistics are left as they were either way.

    Example:
        >>> import torch
        >>> model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(288, 4))
        >>> [str(info) for info in layers(model, torch.zeros(1, 3, 8, 8))][0]
        '0 (conv, Conv2d) (8, 6, 6): 8 units'
    """
    args, kwargs = forward_kwargs(resolve_example(model, example_input))
    flow = Flow(model)
    with _as_it_is(model) if model.training else eval_mode(model):
        calls = trace(model, *args, flow=flow, **kwargs)
    batch = _batch_size(args, kwargs)
    count: dict[str, int] = {}
    for call in calls:
        count[call.name] = count.get(call.name, 0) + 1
    seen: set[str] = set()
    infos: list[LayerInfo] = []
    for call in calls:
        if call.name in seen:
            continue
        seen.add(call.name)
        for suffix, tensor in leaves(call.output):
            axis = cached_axis(model, call.name + suffix, tensor.dim())
            n_units = int(tensor.shape[axis]) if axis is not None else 1
            infos.append(LayerInfo(
                name=call.name + suffix, kind=layer_kind(call.module),
                shape=tuple(tensor.shape[1:]), n_units=n_units,
                module_type=type(call.module).__name__, unit_axis=axis,
                calls=count[call.name],
                lead=_lead(tensor, batch),
            ))
    return infos


def _lead(tensor: torch.Tensor, batch: int | None) -> tuple[int, int] | None:
    """(first axis, batch) of an output whose first axis is not the batch's, else None."""
    if batch is None or tensor.dim() == 0 or int(tensor.shape[0]) == batch:
        return None
    return int(tensor.shape[0]), batch


def _batch_size(args: tuple[Any, ...], kwargs: dict[str, Any]) -> int | None:
    """The batch size of a forward pass's arguments: the first axis of the first tensor."""
    for value in (*args, *kwargs.values()):
        if isinstance(value, torch.Tensor) and value.dim() > 0:
            return int(value.shape[0])
    return None


def layer_table(model: nn.Module, example_input: Any = None) -> dict[str, LayerInfo]:
    """`layers` as a dict by name (one forward pass), for resolving many addresses."""
    return {info.name: info for info in layers(model, example_input)}


def find_layer(model: nn.Module, table: dict[str, LayerInfo], address: Any, *,
               single_call: bool = False, layer_only: bool = False) -> LayerInfo:
    """The `LayerInfo` of the layer that `address` names, from a `layer_table`.

    The one place that turns an address into a layer for every method, with one set of
    errors: `LayerNotFoundError` (with the closest names) for a module that does not
    exist or an output that is not a tensor, `UnitOutOfRangeError` for a unit outside
    the layer, with `single_call` an `AmbiguousCallError` for a module that runs
    more than once in one forward pass, and with `layer_only` an `AddressError` for a
    unit address where a whole layer is asked for.
    """
    unit = Unit.parse(address)
    if layer_only and not unit.is_layer:
        raise AddressError(f"{unit} names a unit; this takes a whole layer, such as "
                           f"{unit.layer}")
    info = table.get(unit.layer)
    if info is None:
        if unit.module_path not in dict(model.named_modules()):
            raise LayerNotFoundError(no_layer(model, unit.layer, list(table)))
        elements = [n for n in table if n.startswith(unit.layer + "[")]
        if elements:
            raise LayerNotFoundError(
                f"{unit.layer} does not output one tensor; address one of its elements: "
                f"{', '.join(elements[:12])}")
        outputs = [n for n in table if n.startswith(unit.module_path + "[")]
        if outputs:  # a module with several outputs, none of them this one
            raise LayerNotFoundError(
                f"{unit.module_path} has no output {unit.layer}; its outputs: "
                f"{', '.join(outputs[:12])}")
        if unit.module_path in table and unit.layer != unit.module_path:
            raise LayerNotFoundError(f"{unit.module_path} outputs one tensor, with no elements "
                                     f"to index: address it as {unit.module_path}")
        close = suggest(unit.layer, list(table))
        mode = ("training mode" if model.training else "eval mode (a layer that runs only "
                "in training, such as an auxiliary head, is listed in training mode)")
        raise LayerNotFoundError(
            f"{unit.layer} did not run in a forward pass of this input in {mode}; closest "
            f"layers: {', '.join(close) or 'none'}. ns.layers(model, x) lists them.")
    if single_call and info.calls > 1:
        raise AmbiguousCallError(
            f"{info.name} runs {info.calls} times in one forward pass (a shared module, a "
            "cell stepped in a loop, or a recurrent state run again while an edit settles); "
            "results would mix its calls. Pick a layer that runs once, outside any edit.")
    check_unit(unit, (1, *info.shape), info.unit_axis)
    return info


def resolve_layer(model: nn.Module, address: Any, example_input: Any = None, *,
                  single_call: bool = False, layer_only: bool = False) -> LayerInfo:
    """The `LayerInfo` of the layer `address` names (see `find_layer` for the errors).

    Example:
        >>> import torch
        >>> model = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
        >>> resolve_layer(model, "0:2", torch.zeros(1, 4)).n_units
        3
    """
    return find_layer(model, layer_table(model, example_input), address,
                      single_call=single_call, layer_only=layer_only)


STUDIED_KINDS = ("conv", "linear", "recurrent")  # what methods study when no layer is named


def batch_not_first(model: nn.Module, info: LayerInfo) -> str | None:
    """Why `info`, an output of torch's own RNN, GRU or LSTM, does not put the batch first
    (its final states ``gru[1]``, ``lstm[1][0]``: [layers, batch, units]; every output of
    one built with batch_first=False: [time, batch, units]), or of any other layer whose
    traced output's first axis is not the batch's; or None."""
    path, _, rest = info.name.partition("[")
    if not rest or not isinstance(_module(model, path), nn.RNNBase):
        return None if info.lead is None else (
            f"its output's first axis has {info.lead[0]}, not the traced batch of "
            f"{info.lead[1]}: the batch is not first (after a time-first RNN?)")
    return rnn_not_batch_first(model, info.name)


def rnn_not_batch_first(model: nn.Module, layer: str) -> str | None:
    """Why output `layer` of torch's own RNN, GRU or LSTM does not put the batch first
    (see `batch_not_first`), from the module alone; None for it and any other layer.

    Example:
        >>> m = nn.Sequential(nn.GRU(3, 4, num_layers=2))
        >>> rnn_not_batch_first(m, "0[1]")
        'a final state [layers, batch, units]: 0[0] holds every step'
    """
    path, _, rest = layer.partition("[")
    module = _module(model, path) if rest else None
    if not isinstance(module, nn.RNNBase):
        return None
    if not layer.endswith(path + "[0]"):
        return f"a final state [layers, batch, units]: {path}[0] holds every step"
    if not module.batch_first:
        return "its batch comes second: [time, batch, units] (batch_first=False)"
    return None


def default_layers(model: nn.Module, table: dict[str, LayerInfo], *,
                   kinds: tuple[str, ...] = STUDIED_KINDS
                   ) -> tuple[list[LayerInfo], dict[str, str]]:
    """(the layers studied when none are named, those of `kinds` left out and why): the
    layers the model declares (`study_layers`), else every layer of `kinds` that runs
    once per pass and puts the batch first (not torch RNNs' final states, nor the outputs
    of one built with batch_first=False).

    Example:
        >>> import torch
        >>> m = nn.Sequential(nn.GRU(2, 3, batch_first=True))
        >>> chosen, left = default_layers(m, layer_table(m, torch.zeros(1, 4, 2)))
        >>> [i.name for i in chosen], sorted(left)
        (['0[0]'], ['0[1]'])
    """
    declared = study_layers(model)
    if declared:
        return [find_layer(model, table, name, single_call=True, layer_only=True)
                for name in declared], {}
    chosen, left = [], {}
    for info in (i for i in table.values() if i.kind in kinds):
        why = batch_not_first(model, info) or (
            f"it runs {info.calls} times per forward pass" if info.calls > 1 else None)
        if why:
            left[info.name] = why
        else:
            chosen.append(info)
    return chosen, left


def study_layers(model: nn.Module) -> list[str] | None:
    """The layers a model declares worth studying by default (its ``study_layers``
    attribute: a char LSTM's cell and hidden states, a transformer's MLP neurons), or None
    when it declares none and the callers' own defaults (conv and linear layers) apply.

    Example:
        >>> m = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
        >>> study_layers(m) is None
        True
        >>> m.study_layers = ("1",)
        >>> study_layers(m)
        ['1']
    """
    names = getattr(model, "study_layers", None)
    return None if not names else [str(n) for n in names]


def _module(model: nn.Module, path: str) -> nn.Module | None:
    """The submodule at `path`, or None (looked up by path, not by listing every module)."""
    try:
        return model.get_submodule(path) if path else model
    except AttributeError:
        return None
