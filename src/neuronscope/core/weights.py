"""Weights files: reading state dicts that never run pickled code, loading them strictly,
and saving them as safetensors atomically."""

from __future__ import annotations

import logging
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import ModelLoadError, UnsafeCheckpointError
from .files import atomic_path

log = logging.getLogger(__name__)
_TORCH_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".tar")  # .tar: the classic .pth.tar
_NESTED_KEYS = ("state_dict", "model", "model_state_dict")


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
    _log_casts(state, own, weights)
    model.load_state_dict(state, strict=True)
    return model


def _log_casts(state: Mapping[str, torch.Tensor], own: Mapping[str, torch.Tensor],
               weights: str | Path) -> None:
    """Warn that load_state_dict casts tensors of another dtype to the model's, naming both."""
    cast: dict[tuple[torch.dtype, torch.dtype], list[str]] = {}
    for key, mine in own.items():
        if state[key].dtype != mine.dtype:
            cast.setdefault((state[key].dtype, mine.dtype), []).append(key)
    for (theirs, mine), keys in cast.items():
        log.warning("weights %r hold %s tensors where the model has %s: %d tensors (%s) are "
                    "cast to %s on loading", str(weights), _name(theirs), _name(mine),
                    len(keys), _few(keys, 3), _name(mine))


def _name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


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
