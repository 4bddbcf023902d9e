"""Helpers shared by the commands: loading the model, checking --out, and the argparse
types of the options (each refuses a bad value with a message saying what is allowed)."""

from __future__ import annotations

import argparse
import math
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

from torch import nn

from ..core.errors import NeuronscopeError, did_you_mean


def load(args: argparse.Namespace, need_spec: bool = True) -> nn.Module:
    """The model named by ``args.model`` (with ``--weights``), its InputSpec reshaped by
    ``--input-shape``; with `need_spec`, a model of no known input shape is refused."""
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
        _check_runs(model, args.model, sizes)
    elif old is None and need_spec:
        raise NeuronscopeError(
            f"{args.model} carries no input description: give its input shape without the "
            "batch axis, e.g. --input-shape 3,64,64"
        )
    return model


def _check_runs(model: nn.Module, name: str, sizes: tuple[int, ...]) -> None:
    """Refuse an --input-shape the model cannot run on, in one line (not torch's trace)."""
    import torch

    from ..core.layers import eval_mode
    from ..core.model import model_device
    from ..core.spec import input_spec

    spec = input_spec(model)  # set to `sizes` by now: its example (token ids for text)
    try:
        with eval_mode(model), torch.no_grad():
            model(spec.example(device=model_device(model)) if spec is not None
                  else torch.zeros(1, *sizes, device=model_device(model)))
    except (RuntimeError, ValueError, IndexError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise NeuronscopeError(f"{name} does not run on inputs of "
                               f"{'x'.join(map(str, sizes))} (--input-shape): {first}") from None


def shape(text: str) -> tuple[int, ...]:
    """``"3,64,64"`` or ``"3x64x64"`` -> (3, 64, 64); positive sizes only."""
    parts = [s.strip() for s in re.split(r"[,x]", text)]
    shape = tuple(int(s) for s in parts) if all(s.isdigit() for s in parts) else ()
    if not shape or any(s < 1 for s in shape):
        raise NeuronscopeError(
            f"--input-shape {text!r}: expected positive sizes without the batch axis, "
            "such as 3,64,64 (an image) or 64 (a vector)"
        )
    return shape


def _int(text: str, low: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer of 1 or more."""
    return _int(text, 1, "a positive integer (1 or more)")


def nonnegative_int(text: str) -> int:
    """argparse type: an integer of 0 or more."""
    return _int(text, 0, "an integer of 0 or more")


def positive_float(text: str) -> float:
    """argparse type: a finite number above 0 (a step size, say)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number (such as 0.01), got "
                                         f"{text!r}")
    return value


def ablation_value(text: str) -> float | str:
    """argparse type: what a silenced unit outputs, a finite number or ``"mean"``."""
    if text.strip().lower() == "mean":
        return "mean"
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a number (such as 0) or 'mean', got {text!r}")
    return value


def unit_list(text: str) -> list[int]:
    """argparse type: unit numbers and low-high ranges, ``"0-15,40"`` -> [0, ..., 15, 40]."""
    out: list[int] = []
    for part in text.split(","):
        lo, dash, hi = (s.strip() for s in part.partition("-"))
        if not lo.isdigit() or (dash and not hi.isdigit()):
            raise argparse.ArgumentTypeError(
                f"{text!r}: expected unit numbers and ranges low-high, e.g. 0-15,40")
        first, last = int(lo), int(hi) if dash else int(lo)
        if last < first:
            raise argparse.ArgumentTypeError(
                f"{text!r}: the range {first}-{last} is reversed and holds no unit; write "
                f"ranges low-high, e.g. {last}-{first}")
        out.extend(u for u in range(first, last + 1) if u not in out)
    return out


def channel_values(positive: bool = False) -> Callable[[str], tuple[float, ...]]:
    """argparse type: one number, or one per channel (``"0.485,0.456,0.406"``)."""

    def parse(text: str) -> tuple[float, ...]:
        try:
            values = tuple(float(s) for s in text.split(","))
        except ValueError:
            values = ()
        ok = values and all(math.isfinite(v) and (v > 0 or not positive) for v in values)
        if not ok:
            what = "positive numbers" if positive else "numbers"
            raise argparse.ArgumentTypeError(
                f"expected {what}, one per channel (R,G,B such as 0.229,0.224,0.225) or one "
                f"for all, got {text!r}")
        return values

    return parse


def writable_folder(path: str, option: str = "--out") -> Path:
    """`path` as a Path, after checking that it is (or can become) a folder one can write
    in; nothing is created."""
    p = Path(path).expanduser()
    if p.exists() and not p.is_dir():
        raise NeuronscopeError(f"{option} {str(p)!r} is an existing file, not a folder: give "
                               "a folder (new or existing) for the results")
    _check_writable(p, option)
    return p


def writable_file(path: str, option: str = "--out") -> Path:
    """`path` as a Path, after checking that a file can be written there."""
    p = Path(path).expanduser()
    if p.is_dir():
        raise NeuronscopeError(f"{option} {str(p)!r} is a folder: give a file name")
    _check_writable(p.parent, option, p)
    return p


def _check_writable(folder: Path, option: str, target: Path | None = None) -> None:
    target = target or folder
    here = next(a for a in (folder, *folder.parents) if a.exists())
    if not here.is_dir():
        raise NeuronscopeError(f"{option} {str(target)!r}: {str(here)!r} is a file, so "
                               "nothing can be written under it; give another path")
    try:
        with tempfile.TemporaryFile(dir=here):
            pass
    except OSError as exc:
        raise NeuronscopeError(f"{option} {str(target)!r}: cannot write in {str(here)!r} "
                               f"({exc.strerror or exc}); give a folder you can write "
                               "to") from None


def model_args(p: argparse.ArgumentParser) -> None:
    """The arguments that name a model: MODEL, --weights, --input-shape."""
    p.add_argument("model", help="zoo:NAME, a built-in name, file.py:factory, torchvision:NAME")
    p.add_argument("--weights", help="safetensors or .pt state dict for file.py:factory")
    p.add_argument("--input-shape", metavar="C,H,W",
                   help="input shape without batch, for a model that carries no InputSpec")


def plugin_arg(p: argparse.ArgumentParser) -> None:
    """--plugin: modules or files to import first (they may register atlas sections,
    datasets, input kinds); added once however many argument groups ask for it."""
    if any(a.dest == "plugin" for a in p._actions):
        return
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE_OR_FILE",
                   help="import this first: a module or .py file that registers atlas "
                   "sections, datasets or input kinds of your own (repeat for several)")
