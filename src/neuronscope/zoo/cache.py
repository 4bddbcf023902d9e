"""Where trained built-in models live: ``$NEURONSCOPE_CACHE/zoo/NAME-HASH.{safetensors,json}``.

HASH covers every recipe field (except its description, and its task when that is the
default ``"classify"``) and the built architecture's ``repr``, so a changed recipe or
architecture gets a new file and is retrained. Files are written atomically (a temporary
file in the same folder, then ``os.replace``); the weights are written before the JSON,
so a JSON file means a complete entry.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from torch import nn

from neuronscope.core.files import atomic_write

from .recipes import Recipe

ENV_VAR = "NEURONSCOPE_CACHE"


def cache_root() -> Path:
    """The neuronscope cache folder: ``$NEURONSCOPE_CACHE``, else ``~/.cache/neuronscope``.

    The environment variable is read on every call.

    Example:
        >>> isinstance(cache_root(), Path)
        True
    """
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "neuronscope"


def recipe_hash(recipe: Recipe, model: nn.Module) -> str:
    """A short hash of the recipe's fields and the architecture's repr (see the module doc).

    Example:
        >>> from neuronscope.zoo.recipes import recipe
        >>> r = recipe("digits-mlp")
        >>> len(recipe_hash(r, r.builder(r.n_classes)))
        12
    """
    fields = recipe.fields()
    fields.pop("description", None)
    # `task` was added after models had been trained and cached; the default task is
    # left out so that every recipe from before it keeps its hash (and its cached weights).
    if fields.get("task") == "classify":
        fields.pop("task")
    text = json.dumps({"recipe": fields, "architecture": repr(model)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def entry_paths(name: str, key: str) -> tuple[Path, Path]:
    """(weights path, JSON path) of one cache entry."""
    folder = cache_root() / "zoo"
    return folder / f"{name}-{key}.safetensors", folder / f"{name}-{key}.json"


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write `data` as JSON to `path` atomically."""
    atomic_write(path, lambda f: json.dump(data, f, indent=2, sort_keys=True), mode="w")


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON at `path`, or None when it is missing or unreadable."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
