"""Importing the user's own code: a model factory's Python file, or a plug-in (a module
or file that registers atlas sections, input kinds or model loaders when imported)."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from .errors import NeuronscopeError


def import_file(path: str | Path, prefix: str = "neuronscope_user") -> ModuleType:
    """Import a Python file as a module named after its resolved path (importing it again
    runs it again and replaces the module); its folder is importable while it runs, for
    sibling imports. Errors raised by the file propagate as they are.

    Example:
        >>> import tempfile
        >>> f = Path(tempfile.mkdtemp()) / "mine.py"
        >>> _ = f.write_text("ANSWER = 42")
        >>> import_file(f).ANSWER
        42
    """
    resolved = Path(path).expanduser().resolve()
    digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:12]
    name = f"{prefix}_{resolved.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(name, resolved)
    if spec is None or spec.loader is None:
        raise NeuronscopeError(f"cannot import {str(path)!r} as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickle look modules up there
    sys.path.insert(0, str(resolved.parent))  # sibling imports (from blocks import Block)
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    finally:
        sys.path.remove(str(resolved.parent))
    return module


def load_plugin(spec: str) -> ModuleType:
    """Import a plug-in: a ``.py`` file path or an importable module name. Importing it
    registers what it defines (``@register_section`` and the like).

    Example:
        >>> load_plugin("json").__name__
        'json'
    """
    try:
        if spec.endswith(".py"):
            if not Path(spec).expanduser().is_file():
                raise NeuronscopeError(f"plug-in {spec!r}: no such file")
            return import_file(spec, "neuronscope_plugin")
        return importlib.import_module(spec)
    except NeuronscopeError:
        raise
    except Exception as exc:
        raise NeuronscopeError(f"plug-in {spec!r} could not be imported: "
                               f"{type(exc).__name__}: {exc}") from exc
