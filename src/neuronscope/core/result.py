"""`Result`: the base of every result type. One file per result, one code path.

A result is a small dataclass of tensors and plain values. `save` writes one
safetensors file whose header names the result's format and version (see
`neuronscope.core.store`); `load` reads it back and refuses, with a
`ResultFileError` that says what was expected, a file of another result type, of a
newer version, or one that is truncated or damaged. Nothing is pickled.

Fields are stored by what they hold: a tensor as a tensor, a dict of tensors as
tensors named ``field/key``, anything else (numbers, strings, lists, dicts of
plain values) in the JSON header. A result with nested state overrides `_encode`
and `_decode`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import torch

from . import store
from .errors import ResultFileError

R = TypeVar("R", bound="Result")


class Result:
    """Base class of result dataclasses: ``FORMAT`` names the kind, ``VERSION`` its layout.

    Example:
        >>> import tempfile
        >>> from dataclasses import dataclass
        >>> @dataclass
        ... class Demo(Result):
        ...     FORMAT = "neuronscope.demo"
        ...     layer: str
        ...     values: torch.Tensor
        >>> path = Demo("conv3", torch.ones(3)).save(Path(tempfile.mkdtemp()) / "d.safetensors")
        >>> Demo.load(path)
        Demo(layer='conv3', values=tensor([1., 1., 1.]))
    """

    FORMAT: ClassVar[str] = ""
    VERSION: ClassVar[int] = 1

    def save(self, path: str | Path) -> Path:
        """Write this result to one file (atomically) and return its path."""
        if Path(path).expanduser().is_dir():
            raise ResultFileError(f"{path} is a folder; a result is one file: give a file name "
                                  f"such as {Path(path) / 'result.safetensors'}")
        tensors, meta = self._encode()
        return store.save(path, tensors, meta, self._format(), self.VERSION)

    @classmethod
    def load(cls: type[R], path: str | Path) -> R:
        """Read a file written by `save` of this result type."""
        tensors, meta = store.load(path, cls._format(), cls.VERSION)
        return cls._decode(tensors, meta)

    @classmethod
    def _format(cls) -> str:
        if not cls.FORMAT:
            raise TypeError(f"{cls.__name__} sets no FORMAT: load a file with the result type "
                            "that wrote it (ns.TopExamples.load, ns.AblationStudy.load, ...)")
        return cls.FORMAT

    def _encode(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """(tensors, JSON-ready meta) of this result: its fields sorted by kind."""
        tensors: dict[str, torch.Tensor] = {}
        plain: dict[str, Any] = {}
        dicts: dict[str, list[str]] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, torch.Tensor):
                tensors[f.name] = value
            elif _tensor_dict(value):
                dicts[f.name] = [str(k) for k in value]
                tensors.update({f"{f.name}/{k}": v for k, v in value.items()})
            else:
                plain[f.name] = value
        return tensors, {"fields": plain, "tensor_dicts": dicts}

    @classmethod
    def _decode(cls: type[R], tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> R:
        """The inverse of `_encode`."""
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            if f.name in tensors:
                values[f.name] = tensors[f.name]
            elif f.name in meta.get("tensor_dicts", {}):
                values[f.name] = {k: tensors[f"{f.name}/{k}"]
                                  for k in meta["tensor_dicts"][f.name]}
            elif f.name in meta.get("fields", {}):
                value = meta["fields"][f.name]
                is_tuple = str(f.type).startswith("tuple") and isinstance(value, list)
                values[f.name] = tuple(value) if is_tuple else value
        try:
            return cls(**values)
        except TypeError as exc:  # a field is missing: not what this version writes
            raise ResultFileError(f"the file does not hold a whole {cls._format()} result "
                                  f"({exc})") from None


def _tensor_dict(value: Any) -> bool:
    return (isinstance(value, dict) and bool(value)
            and all(isinstance(v, torch.Tensor) for v in value.values()))
