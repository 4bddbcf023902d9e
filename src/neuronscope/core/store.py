"""Results on disk: one safetensors file holding the tensors, with a JSON description in
its header. Nothing is pickled, and a write is atomic."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from .files import atomic_path

_KEY = "neuronscope"


def save(path: str | Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> Path:
    """Write `tensors` and the JSON-ready `meta` to `path` (atomically).

    Example:
        >>> import tempfile
        >>> p = save(Path(tempfile.mkdtemp()) / "r.safetensors", {"a": torch.ones(2)}, {"k": 1})
        >>> load(p)[1]
        {'k': 1}
    """
    from safetensors.torch import save_file

    cpu = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(cpu, str(tmp), metadata={_KEY: json.dumps(meta)})
    return Path(path)


def load(path: str | Path, kind: str | None = None
         ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, meta) of a file written by `save`; with `kind`, ``meta["format"]`` must match."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = json.loads((f.metadata() or {}).get(_KEY, "{}"))
        tensors = {key: f.get_tensor(key) for key in f.keys()}  # noqa: SIM118
    if kind is not None and meta.get("format") != kind:
        raise ValueError(f"{path} is not a {kind} file (format: {meta.get('format')})")
    return tensors, meta
