"""A model and what it runs on: loading one by name, its device, dtype and output.

A model is named by a spec string ``PREFIX:NAME``, where each prefix is a loader
registered with `register_loader` (``torchvision:NAME`` here; the zoo registers
``zoo:NAME``), or ``path/to/file.py:factory``: ``factory()`` from a Python file,
returning an ``nn.Module`` (optionally with ``input_spec`` attached) or a
``(module, InputSpec)`` pair. Weights files never run pickled code (see `weights.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import ModelLoadError, NeuronscopeError
from .loaders import FILE_FORM, IMAGENET_MEAN, IMAGENET_STD, file_model, imagenet_spec
from .loaders import torchvision_model as _torchvision
from .spec import input_spec
from .weights import load_weights, read_state_dict, save_weights

Loader = Callable[..., nn.Module]  # loader(name, device=None) -> nn.Module
_LOADERS: dict[str, tuple[Loader, str]] = {}


def register_loader(prefix: str, loader: Loader, example: str = "") -> None:
    """Make ``PREFIX:NAME`` specs load with ``loader(NAME, device=...)``.

    Example:
        >>> register_loader("tiny", lambda name, device=None: nn.Linear(2, int(name)))
        >>> load_model("tiny:3").out_features
        3
    """
    if not prefix.isidentifier():
        raise ValueError(f"a loader prefix is a plain name such as 'zoo', got {prefix!r}")
    _LOADERS[prefix] = (loader, example or f"{prefix}:NAME")


register_loader("torchvision", _torchvision, "torchvision:resnet18 (architecture only)")


def spec_forms() -> str:
    """The model spec forms that `load_model` understands now, one per line."""
    lines = [f"  {example}" for _, example in _LOADERS.values()]
    return "model specs:\n" + "\n".join([*lines, f"  {FILE_FORM}"])


def load_model(spec: str, weights: str | Path | None = None,
               device: torch.device | str | None = None) -> nn.Module:
    """Build the model named by `spec`, load `weights` into it, and return it in eval mode.

    The model carries its `InputSpec` (``model.input_spec``) where one is known.

    Example:
        >>> model = load_model("zoo:digits-mlp")  # doctest: +SKIP
        >>> model = load_model("my_models.py:build", weights="run3.safetensors")  # doctest: +SKIP
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ModelLoadError(f"a model spec must be a non-empty string, got {spec!r}\n"
                             f"{spec_forms()}")
    spec = spec.strip()
    prefix, sep, name = spec.partition(":")
    if sep and prefix in _LOADERS:
        model = _LOADERS[prefix][0](name, device=device)
    elif sep and not prefix.endswith(".py") and "/" not in prefix and "." not in prefix:
        raise ModelLoadError(f"unknown model prefix {prefix!r} in {spec!r}\n{spec_forms()}")
    else:
        model = file_model(spec, forms=spec_forms())
    if weights is not None:
        load_weights(model, weights)
    if device is not None:
        model.to(device)
    return model.eval()


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (or buffer); the CPU for a model of neither.

    Example:
        >>> model_device(nn.Linear(2, 2)).type
        'cpu'
    """
    for t in (*model.parameters(), *model.buffers()):
        return t.device
    return torch.device("cpu")


def model_dtype(model: nn.Module) -> torch.dtype | None:
    """The dtype of the model's first floating-point parameter, or None.

    Example:
        >>> model_dtype(nn.Linear(2, 2).double())
        torch.float64
    """
    return next((p.dtype for p in model.parameters() if p.is_floating_point()), None)


def logits_of(output: Any) -> torch.Tensor:
    """The class scores in a model's output: the output itself, the ``logits`` entry of a
    dict (or its only entry), or the first element of a tuple or list. A dict of several
    entries none of which is ``logits`` is refused rather than guessed.

    Example:
        >>> logits_of({"features": torch.zeros(1, 4), "logits": torch.ones(1, 2)}).shape
        torch.Size([1, 2])
    """
    out = output
    while not isinstance(out, torch.Tensor):
        if isinstance(out, dict) and ("logits" in out or len(out) == 1):
            out = out["logits"] if "logits" in out else next(iter(out.values()))
        elif isinstance(out, (tuple, list)) and out:
            out = out[0]
        else:
            keys = f" (keys: {', '.join(map(str, out))})" if isinstance(out, dict) else ""
            raise NeuronscopeError(f"cannot tell the class scores in the model's output, a "
                                   f"{type(out).__name__}{keys}: return them as a tensor, "
                                   "first in a tuple, or under the key 'logits'")
    return out


__all__ = [
    "IMAGENET_MEAN", "IMAGENET_STD", "imagenet_spec", "input_spec", "load_model",
    "load_weights", "logits_of", "model_device", "model_dtype", "read_state_dict",
    "register_loader", "save_weights", "spec_forms",
]
