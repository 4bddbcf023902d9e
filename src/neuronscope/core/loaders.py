"""The built-in ways to name a model: a factory in a Python file, and a torchvision
architecture. `neuronscope.core.model` registers them; other packages (the zoo) register
their own prefixes there."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from .errors import ModelLoadError
from .plugins import import_file
from .spec import InputSpec, attach_spec

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
FILE_FORM = "path/to/file.py:factory"
_EXIT = "a model file must return a model or raise an exception, not exit"


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


def file_model(spec: str, device: Any = None, forms: str = "") -> nn.Module:
    """``factory()`` from the Python file of a ``path/to/file.py:factory`` spec; `forms`
    (the spec forms known) is added to the error for a spec of no known form."""
    path_text, sep, factory_name = spec.rpartition(":")
    if not sep or not path_text or not factory_name:
        raise ModelLoadError(f"cannot read model spec {spec!r}\n{forms or FILE_FORM}")
    path = Path(path_text).expanduser()
    if path.suffix != ".py":
        raise ModelLoadError(
            f"model spec {spec!r}: expected a Python file ending in .py before ':'\n"
            f"{forms or FILE_FORM}"
        )
    if not path.is_file():
        raise ModelLoadError(
            f"model spec {spec!r}: no file {str(path)!r} (expected a Python file defining "
            f"{factory_name}() that returns an nn.Module)"
        )
    try:
        module = import_file(path, "neuronscope_user_model")
    except SystemExit as exc:
        raise ModelLoadError(f"model spec {spec!r}: importing {str(path)!r} called "
                             f"sys.exit({exc.code!r}); {_EXIT}") from exc
    except Exception as exc:
        raise ModelLoadError(
            f"model spec {spec!r}: importing {str(path)!r} failed: {type(exc).__name__}: {exc}"
        ) from exc
    factory = getattr(module, factory_name, None)
    if factory is None or not callable(factory):
        found = sorted(
            name for name, value in vars(module).items()
            if callable(value) and not name.startswith("_")
            and getattr(value, "__module__", None) == module.__name__
        )
        listing = ", ".join(found) if found else "none"
        raise ModelLoadError(
            f"model spec {spec!r}: {str(path)!r} defines no function {factory_name!r} "
            f"(expected {factory_name}() returning an nn.Module). Functions there: {listing}"
        )
    try:
        result = factory()
    except SystemExit as exc:  # a factory must not end the process it is loaded into
        raise ModelLoadError(f"model spec {spec!r}: {factory_name}() called "
                             f"sys.exit({exc.code!r}); {_EXIT}") from exc
    except Exception as exc:
        raise ModelLoadError(
            f"model spec {spec!r}: {factory_name}() raised {type(exc).__name__}: {exc}"
        ) from exc
    return _as_model(result, f"{str(path)!r}:{factory_name}()")


def _broken_torchvision(name: str, exc: BaseException) -> str:
    """Why torchvision, though installed, does not import, and what to do about it."""
    import torch

    try:
        from importlib.metadata import version

        have = f"torchvision {version('torchvision')}"
    except Exception:
        have = "the torchvision found"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return (f"torchvision:{name}: torchvision does not import ({type(exc).__name__}: {first}); "
            f"{have} is likely built for another torch than torch {torch.__version__}: "
            "install the torchvision release made for this torch, or load the model from a "
            "file: path/to/file.py:factory")


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


def torchvision_model(name: str, device: Any = None) -> nn.Module:
    """A torchvision architecture with random weights (nothing is downloaded)."""
    try:
        import torchvision
    except ModuleNotFoundError as exc:
        if exc.name != "torchvision":
            raise ModelLoadError(_broken_torchvision(name, exc)) from exc
        raise ModelLoadError(
            f"torchvision:{name} needs torchvision, which is not installed "
            "(pip install torchvision); or load the model from a file: path/to/file.py:factory"
        ) from exc
    except Exception as exc:  # installed, but e.g. built for another torch
        raise ModelLoadError(_broken_torchvision(name, exc)) from exc
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
