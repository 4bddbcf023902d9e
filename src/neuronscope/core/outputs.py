"""Walking a module's output: tuples, lists and dicts of tensors addressed by keys
(``lstm[1][0]``, ``out[logits]``): select an element, replace one, list every tensor.

Example:
    >>> import torch
    >>> out = (torch.zeros(2), {"h": torch.ones(1)})
    >>> [k for k, _ in leaves(out)], select_output(out, ("1", "h")).tolist()
    (['[0]', '[1][h]'], [1.0])
"""

from __future__ import annotations

from typing import Any

import torch

from .errors import LayerNotFoundError
from .units import _PATTERN

__all__ = ["leaves", "replace_output", "select_output"]


def _elements(output: Any) -> list[str]:
    if isinstance(output, dict):
        return [str(k) for k in output]
    if isinstance(output, (tuple, list)):
        return [str(i) for i in range(len(output))]
    return []


def select_output(output: Any, keys: tuple[str, ...], layer: str = "") -> Any:
    """Walk a module's output along `keys` (dict keys, or indices of tuples and lists)."""
    cur = output
    for depth, key in enumerate(keys):
        here = layer.split("[", 1)[0] + "".join(f"[{k}]" for k in keys[:depth])
        if isinstance(cur, dict) and _dict_key(cur, key) is not None:
            cur = cur[_dict_key(cur, key)]
        elif isinstance(cur, (tuple, list)) and key.isdigit() and int(key) < len(cur):
            cur = cur[int(key)]
        else:
            options = ", ".join(f"{here}[{e}]" for e in _elements(cur)) or "none"
            what = (f"a namedtuple {type(cur).__name__} (its fields are addressed by index)"
                    if hasattr(cur, "_fields") else f"a {type(cur).__name__}")
            raise LayerNotFoundError(
                f"{here} returns {what}; it has no element [{key}]. Elements: {options}.")
    return cur


def _dict_key(d: dict, key: str) -> Any:
    """The key of `d` whose text is `key` (dict keys may be ints), or None."""
    if key in d:
        return key
    return next((k for k in d if str(k) == key), None)


def replace_output(output: Any, keys: tuple[str, ...], new: Any) -> Any:
    """A copy of `output` with the element at `keys` replaced by `new`."""
    if not keys:
        return new
    key, rest = keys[0], keys[1:]
    if isinstance(output, dict):
        out = output.copy()
        real = _dict_key(output, key)
        out[real] = replace_output(output[real], rest, new)
        return out
    items = list(output)
    items[int(key)] = replace_output(items[int(key)], rest, new)
    if isinstance(output, list):
        return items
    if hasattr(output, "_fields"):  # namedtuple
        return type(output)(*items)
    return type(output)(items)


def leaves(output: Any, prefix: str = "") -> list[tuple[str, torch.Tensor]]:
    """Every tensor inside a (nested) output, with its key suffix such as ``"[1][0]"``."""
    if isinstance(output, torch.Tensor):
        return [(prefix, output)]
    found: list[tuple[str, torch.Tensor]] = []
    if isinstance(output, dict):
        items = [(str(k), v) for k, v in output.items()]
    elif isinstance(output, (tuple, list)):
        items = [(str(i), v) for i, v in enumerate(output)]
    else:
        return found
    for key, value in items:
        if _PATTERN.match(f"x[{key}]"):
            found.extend(leaves(value, f"{prefix}[{key}]"))
    return found
