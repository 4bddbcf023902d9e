"""Listing a model's addressable layers: `layers(model, example_input)`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from torch import nn

from .errors import NeuronscopeError
from .hooks import forward_kwargs, trace
from .spec import input_spec
from .units import leaves, unit_axis

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
    many times the module ran in one forward pass.
    """

    name: str
    kind: str
    shape: tuple[int, ...]
    n_units: int
    module_type: str
    unit_axis: int | None
    calls: int = 1

    def __str__(self) -> str:
        return f"{self.name} ({self.kind}, {self.module_type}) {self.shape}: {self.n_units} units"


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
    param = next((p for p in model.parameters() if p.is_floating_point()), None)
    x = spec.example(device=param.device if param is not None else None)
    return x.to(param.dtype) if param is not None and x.is_floating_point() else x


def layers(model: nn.Module, example_input: Any = None) -> list[LayerInfo]:
    """Every addressable layer of `model`, in the order the layers first run.

    One forward pass on `example_input` (a batched tensor, a tuple of arguments or a
    dict of keyword arguments; optional for models with an `InputSpec`) finds the
    output shapes. Tuple, list and dict outputs are listed per tensor element
    (``lstm[0]``, ``lstm[1][0]``). The pass runs in eval mode without gradients, so
    batch-norm statistics are left as they were.

    Example:
        >>> import torch
        >>> model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(288, 4))
        >>> [str(info) for info in layers(model, torch.zeros(1, 3, 8, 8))][0]
        '0 (conv, Conv2d) (8, 6, 6): 8 units'
    """
    args, kwargs = forward_kwargs(resolve_example(model, example_input))
    with eval_mode(model):
        calls = trace(model, *args, **kwargs)
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
            axis = unit_axis(model, call.name, tensor.dim())
            n_units = int(tensor.shape[axis]) if axis is not None else 1
            infos.append(LayerInfo(
                name=call.name + suffix, kind=layer_kind(call.module),
                shape=tuple(tensor.shape[1:]), n_units=n_units,
                module_type=type(call.module).__name__, unit_axis=axis,
                calls=count[call.name],
            ))
    return infos
