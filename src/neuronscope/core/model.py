"""Loading models and their weights: `load_model`, `load_weights`, `save_weights`.

A model is named by a spec string:

- ``"zoo:NAME"``: a built-in model (`neuronscope.zoo.load`), trained on first use.
- ``"path/to/file.py:factory"``: ``factory()`` from a Python file; it returns an
  ``nn.Module`` (optionally with ``input_spec`` attached) or a ``(module, InputSpec)`` pair.
- ``"torchvision:NAME"``: a torchvision architecture with random weights (nothing is
  downloaded; pass ``weights=`` for trained ones), with an ImageNet `InputSpec`.

Checkpoints never run pickled code: safetensors files, or ``torch.load`` with
``weights_only=True``; a checkpoint that needs pickled code is refused.
"""

from __future__ import annotations

import hashlib
import importlib.util
import pickle
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import ModelLoadError, UnsafeCheckpointError
from .files import atomic_path
from .spec import InputSpec, attach_spec, input_spec

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

SPEC_FORMS = """\
model specs:
  zoo:NAME                 a built-in model, e.g. zoo:shapes-cnn (see neuronscope.zoo.names())
  path/to/file.py:factory  factory() from a Python file, returning an nn.Module
                           or a (module, InputSpec) pair
  torchvision:NAME         a torchvision architecture, random weights, e.g. torchvision:resnet18"""

_TORCH_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".tar")  # .tar: the classic .pth.tar
_NESTED_KEYS = ("state_dict", "model", "model_state_dict")


def load_model(
    spec: str,
    weights: str | Path | None = None,
    device: torch.device | str | None = None,
) -> nn.Module:
    """Build the model named by `spec`, load `weights` into it, and return it in eval mode.

    The model carries its `InputSpec` (``model.input_spec``) where one is known.

    Example:
        >>> model = load_model("zoo:digits-mlp")  # doctest: +SKIP
        >>> model = load_model("my_models.py:build", weights="run3.safetensors")  # doctest: +SKIP
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ModelLoadError(f"a model spec must be a non-empty string, got {spec!r}\n{SPEC_FORMS}")
    spec = spec.strip()
    if spec.startswith("zoo:"):
        from neuronscope import zoo

        model = zoo.load(spec[len("zoo:"):], device=device)
    elif spec.startswith("torchvision:"):
        model = _torchvision_model(spec[len("torchvision:"):])
    else:
        model = _factory_model(spec)
    if weights is not None:
        load_weights(model, weights)
    if device is not None:
        model.to(device)
    return model.eval()


def _factory_model(spec: str) -> nn.Module:
    path_text, sep, factory_name = spec.rpartition(":")
    if not sep or not path_text or not factory_name:
        raise ModelLoadError(f"cannot read model spec {spec!r}\n{SPEC_FORMS}")
    path = Path(path_text).expanduser()
    if path.suffix != ".py":
        raise ModelLoadError(
            f"model spec {spec!r}: expected a Python file ending in .py before ':'\n{SPEC_FORMS}"
        )
    if not path.is_file():
        raise ModelLoadError(
            f"model spec {spec!r}: no file {str(path)!r} (expected a Python file defining "
            f"{factory_name}() that returns an nn.Module)"
        )
    resolved = path.resolve()
    digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:12]
    module_name = f"neuronscope_user_model_{resolved.stem}_{digest}"
    import_spec = importlib.util.spec_from_file_location(module_name, resolved)
    if import_spec is None or import_spec.loader is None:
        raise ModelLoadError(f"model spec {spec!r}: cannot import {str(path)!r} as Python")
    module = importlib.util.module_from_spec(import_spec)
    sys.modules[module_name] = module  # dataclasses and pickle look modules up there
    sys.path.insert(0, str(resolved.parent))  # sibling imports (from blocks import Block)
    try:
        import_spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise ModelLoadError(
            f"model spec {spec!r}: importing {str(path)!r} failed: {type(exc).__name__}: {exc}"
        ) from exc
    finally:
        sys.path.remove(str(resolved.parent))
    factory = getattr(module, factory_name, None)
    if factory is None or not callable(factory):
        found = sorted(
            name for name, value in vars(module).items()
            if callable(value) and not name.startswith("_")
            and getattr(value, "__module__", None) == module_name
        )
        listing = ", ".join(found) if found else "none"
        raise ModelLoadError(
            f"model spec {spec!r}: {str(path)!r} defines no function {factory_name!r} "
            f"(expected {factory_name}() returning an nn.Module). Functions there: {listing}"
        )
    try:
        result = factory()
    except Exception as exc:
        raise ModelLoadError(
            f"model spec {spec!r}: {factory_name}() raised {type(exc).__name__}: {exc}"
        ) from exc
    return _as_model(result, f"{str(path)!r}:{factory_name}()")


def _as_model(result: Any, where: str) -> nn.Module:
    spec: Any = None
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], nn.Module):
        result, spec = result
        if not isinstance(spec, InputSpec):
            raise ModelLoadError(
                f"{where} returned (module, {type(spec).__name__}); the second element "
                "must be a neuronscope InputSpec"
            )
    if not isinstance(result, nn.Module):
        raise ModelLoadError(
            f"{where} returned {type(result).__name__}; expected an nn.Module "
            "or a (module, InputSpec) pair"
        )
    if spec is not None:
        attach_spec(result, spec)
    return result


def imagenet_spec(class_names: list[str] | None = None) -> InputSpec:
    """The `InputSpec` of an ImageNet classifier: 3x224x224 with ImageNet mean and std.

    Example:
        >>> imagenet_spec().shape
        (3, 224, 224)
    """
    return InputSpec(
        shape=(3, 224, 224), kind="image", mean=IMAGENET_MEAN, std=IMAGENET_STD,
        class_names=class_names,
    )


def _torchvision_model(name: str) -> nn.Module:
    try:
        import torchvision
    except ImportError as exc:
        raise ModelLoadError(
            f"torchvision:{name} needs torchvision, which is not installed "
            "(pip install torchvision); or load the model from a file: path/to/file.py:factory"
        ) from exc
    try:
        model = torchvision.models.get_model(name, weights=None)
    except Exception as exc:
        try:
            known = sorted(torchvision.models.list_models())
        except Exception:
            known = []
        listing = ", ".join(known[:40]) + (" ..." if len(known) > 40 else "")
        raise ModelLoadError(
            f"torchvision has no model {name!r} ({type(exc).__name__}: {exc}). "
            f"Models: {listing or 'see torchvision.models.list_models()'}"
        ) from exc
    return attach_spec(model, imagenet_spec())


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from a safetensors or torch checkpoint, never running pickled code.

    A torch checkpoint may hold the state dict itself or a dict with it under
    ``"state_dict"``, ``"model"`` or ``"model_state_dict"``.

    Example:
        >>> state = read_state_dict("model.safetensors")  # doctest: +SKIP
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise ModelLoadError(f"no weights file {str(path)!r}")
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except Exception as exc:
            raise ModelLoadError(
                f"cannot read safetensors file {str(path)!r}: {type(exc).__name__}: {exc}"
            ) from exc
    if suffix not in _TORCH_SUFFIXES:
        raise ModelLoadError(
            f"weights file {str(path)!r}: unknown format {suffix or '(no suffix)'!r}; expected "
            f".safetensors or a torch checkpoint ({', '.join(_TORCH_SUFFIXES)})"
        )
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise UnsafeCheckpointError(
            f"refused to load {str(path)!r}: it needs pickled Python code to load "
            f"(torch.load with weights_only=True said: {_reason(exc)}). Running it could "
            "execute arbitrary code. If you trust the file, convert it once to safetensors: "
            "state = torch.load(path, weights_only=False); "
            "safetensors.torch.save_file(state, 'model.safetensors'), and load that."
        ) from exc
    except Exception as exc:
        raise ModelLoadError(
            f"cannot read torch checkpoint {str(path)!r}: {type(exc).__name__}: {exc}"
        ) from exc
    return _extract_state_dict(obj, path)


def _reason(exc: BaseException) -> str:
    """The informative line of torch's weights_only error (which global it refused)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for line in lines:
        if "GLOBAL" in line or "Unsupported" in line or "unsupported" in line:
            return line
    return lines[0] if lines else type(exc).__name__


def _is_state_dict(obj: Any) -> bool:
    return (
        isinstance(obj, Mapping)
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    )


def _extract_state_dict(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    if _is_state_dict(obj):
        return dict(obj)
    if isinstance(obj, Mapping):
        for key in _NESTED_KEYS:
            if key in obj and _is_state_dict(obj[key]):
                return dict(obj[key])
        keys = ", ".join(repr(k) for k in list(obj)[:10])
        raise ModelLoadError(
            f"{str(path)!r} holds a dict that is not a state dict (keys: {keys}); expected a "
            f"state dict of tensors, or one under {', '.join(repr(k) for k in _NESTED_KEYS)}"
        )
    raise ModelLoadError(
        f"{str(path)!r} holds a {type(obj).__name__}; expected a state dict of tensors"
    )


def load_weights(model: nn.Module, weights: str | Path) -> nn.Module:
    """Load a weights file into `model` (strict: every key must match) and return the model.

    Example:
        >>> load_weights(model, "run3.safetensors")  # doctest: +SKIP
    """
    state = read_state_dict(weights)
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:  # checked before loading, so a refused file changes nothing
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys ({_few(missing)})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys ({_few(unexpected)})")
        raise ModelLoadError(
            f"weights {str(weights)!r} do not match {type(model).__name__}: "
            + "; ".join(parts) + ". Check that the architecture is the one the weights were "
            "saved from."
        )
    wrong = [f"{k}: file {tuple(state[k].shape)}, model {tuple(v.shape)}"
             for k, v in own.items() if tuple(state[k].shape) != tuple(v.shape)]
    if wrong:
        raise ModelLoadError(
            f"weights {str(weights)!r} do not fit {type(model).__name__}: {len(wrong)} "
            f"tensors differ in shape ({_few(wrong, 3)})"
        )
    model.load_state_dict(state, strict=True)
    return model


def _few(keys: list[str], n: int = 5) -> str:
    return ", ".join(keys[:n]) + (", ..." if len(keys) > n else "")


def save_weights(model: nn.Module | Mapping[str, torch.Tensor], path: str | Path) -> Path:
    """Save a model's state dict (or a state dict) as safetensors, atomically.

    The file is written to a temporary file in the same folder and then renamed, so
    an interrupted save never leaves a half-written file at `path`.

    Example:
        >>> save_weights(nn.Linear(2, 2), "/tmp/linear.safetensors")  # doctest: +SKIP
    """
    from safetensors.torch import save_file

    state = model.state_dict() if isinstance(model, nn.Module) else model
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state.items()}
    with atomic_path(path) as tmp:
        save_file(_unshare(tensors), str(tmp))
    path = Path(path).expanduser()
    return path


def _unshare(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Clone tensors that share storage (tied weights), which safetensors refuses."""
    seen: set[int] = set()
    out = {}
    for key, t in tensors.items():
        ptr = t.untyped_storage().data_ptr() if t.numel() else -1
        if ptr in seen:
            t = t.clone()
        elif ptr != -1:
            seen.add(ptr)
        out[key] = t
    return out


__all__ = [
    "IMAGENET_MEAN", "IMAGENET_STD", "SPEC_FORMS", "imagenet_spec", "input_spec",
    "load_model", "load_weights", "read_state_dict", "save_weights",
]
