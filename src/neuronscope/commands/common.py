"""Helpers shared by the commands: loading the model, parsing sizes and unit lists."""

from __future__ import annotations

import argparse
import re

from torch import nn

from ..core.errors import NeuronscopeError, did_you_mean


def load(args: argparse.Namespace, need_spec: bool = True) -> nn.Module:
    import dataclasses

    from .. import zoo
    from ..core.model import load_model
    from ..core.spec import InputSpec, attach_spec, input_spec

    spec = args.model
    if ":" not in spec:
        if spec not in zoo.names():
            raise NeuronscopeError(
                f"no built-in model {spec!r}.{did_you_mean(spec, zoo.names())} Built-in "
                f"models: {', '.join(zoo.names())}; "
                "or give file.py:factory or torchvision:NAME"
            )
        spec = f"zoo:{spec}"
    model = load_model(spec, weights=args.weights)
    old = input_spec(model)
    if args.input_shape:
        sizes = shape(args.input_shape)
        if old is not None:
            new = dataclasses.replace(old, shape=sizes)
        else:
            new = InputSpec(shape=sizes, kind="image" if len(sizes) == 3 else "vector")
        attach_spec(model, new)
    elif old is None and need_spec:
        raise NeuronscopeError(
            f"{args.model} carries no input description: give its input shape without the "
            "batch axis, e.g. --input-shape 3,64,64"
        )
    return model


def shape(text: str) -> tuple[int, ...]:
    parts = [s.strip() for s in re.split(r"[,x]", text)]
    shape = tuple(int(s) for s in parts) if all(s.isdigit() for s in parts) else ()
    if not shape or any(s < 1 for s in shape):
        raise NeuronscopeError(
            f"--input-shape {text!r}: expected positive sizes without the batch axis, "
            "such as 3,64,64 (an image) or 64 (a vector)"
        )
    return shape


def units(text: str | None) -> list[int] | None:
    if not text:
        return None
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        if not lo.strip().isdigit() or (hi and not hi.strip().isdigit()):
            raise NeuronscopeError(f"--units {text!r}: expected numbers and ranges, e.g. 0-15,40")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def model_args(p: argparse.ArgumentParser) -> None:
    """The arguments that name a model: MODEL, --weights, --input-shape."""
    p.add_argument("model", help="zoo:NAME, a built-in name, file.py:factory, torchvision:NAME")
    p.add_argument("--weights", help="safetensors or .pt state dict for file.py:factory")
    p.add_argument("--input-shape", metavar="C,H,W",
                   help="input shape without batch, for a model that carries no InputSpec")


def plugin_arg(p: argparse.ArgumentParser) -> None:
    """--plugin: modules or files to import first (they may register atlas sections)."""
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE_OR_FILE",
                   help="import this first: a module or .py file that registers atlas "
                   "sections of your own (repeat for several)")
