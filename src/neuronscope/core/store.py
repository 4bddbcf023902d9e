"""Results on disk: one safetensors file holding the tensors, with a JSON header naming
the result's format and version and a checksum of the header and tensors. Nothing is pickled,
and a write is atomic. `neuronscope.core.result.Result` is the one user of this file
format; every result type saves and loads through it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from .errors import ResultFileError
from .files import atomic_path

_KEY = "neuronscope"


def checksum(tensors: dict[str, torch.Tensor], header: dict[str, Any] | None = None) -> str:
    """A hash of the header (as canonical JSON) and of every tensor's name, dtype, shape
    and bytes (in name order): a change to any byte of a result file shows.

    Example:
        >>> checksum({"a": torch.zeros(2)}) == checksum({"a": torch.zeros(2)})
        True
        >>> checksum({"a": torch.zeros(2)}, {"n": 1}) == checksum({"a": torch.zeros(2)}, {"n": 2})
        False
    """
    h = hashlib.sha256(json.dumps(header or {}, sort_keys=True).encode())
    for key in sorted(tensors):
        t = tensors[key].detach().to("cpu").contiguous()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:32]


def save(path: str | Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any],
         format: str, version: int) -> Path:
    """Write `tensors` and the JSON-ready `meta` to `path` (atomically), with the format
    name, its version and a checksum in the header.

    Example:
        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / "r.safetensors"
        >>> _ = save(p, {"a": torch.ones(2)}, {"k": 1}, "demo", 1)
        >>> load(p, "demo", 1)[1]["k"]
        1
    """
    from safetensors.torch import save_file

    cpu = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    header = {**meta, "format": format, "version": version}
    header["checksum"] = checksum(cpu, header)
    with atomic_path(path) as tmp:
        save_file(cpu, str(tmp), metadata={_KEY: json.dumps(header)})
    return Path(path)


def load(path: str | Path, format: str, version: int
         ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, meta) of a file written by `save` as `format`, of `version` or older.

    A missing, truncated or damaged file, a file of another format, and one written by
    a newer version each raise a `ResultFileError` that says what was expected.
    """
    from safetensors import SafetensorError, safe_open

    path = Path(path).expanduser()
    what = f"a {format} file"
    if not path.is_file():
        raise ResultFileError(f"no file {str(path)!r} (expected {what})")
    try:
        with safe_open(str(path), framework="pt") as f:
            text = (f.metadata() or {}).get(_KEY)
            tensors = {key: f.get_tensor(key) for key in f.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError) as exc:
        raise ResultFileError(f"{path} cannot be read as a safetensors file ({exc}): it is "
                              f"truncated or damaged, or not a result file at all; expected "
                              f"{what}") from None
    try:
        meta = json.loads(text) if text is not None else None
    except ValueError:
        meta = None
    if not isinstance(meta, dict) or "format" not in meta:
        raise ResultFileError(f"{path} is a safetensors file but not a neuronscope result "
                              f"(no neuronscope header); expected {what}")
    _check(path, meta, format, version)
    saved = meta.pop("checksum", None)
    if saved != checksum(tensors, meta):
        raise ResultFileError(f"{path} is damaged: its header and tensors do not match the "
                              f"checksum saved with them (expected {what}). Compute the result "
                              "again, or restore the file from a copy.")
    return tensors, meta


def _check(path: Path, meta: dict[str, Any], format: str, version: int) -> None:
    found = str(meta["format"])
    if found.startswith(format + "/"):
        raise ResultFileError(f"{path} holds {found}, the layout of an earlier neuronscope that "
                              f"this one no longer reads; expected {format} version {version}. "
                              f"Delete {path} and compute the result again.")
    if found != format:
        raise ResultFileError(f"{path} holds a {found} result, not a {format} result; load it "
                              f"with the result type that wrote it")
    found_version = meta.get("version")
    if not isinstance(found_version, int):
        raise ResultFileError(f"{path} names no format version (expected {format} version "
                              f"{version}); it was not written by neuronscope's result code")
    if found_version > version:
        raise ResultFileError(f"{path} is {format} version {found_version}, written by a newer "
                              f"neuronscope; this one reads versions up to {version}. Upgrade "
                              "neuronscope to read it.")
