"""A command's dataset, made to fit its model: folder images and photos at the size and with
the normalization of the model's InputSpec (or of --image-size, --mean, --std), ImageNet-style
folders labelled with the model's classes, other built-in data normalized when the model
expects it, and a refusal of empty data or data the model cannot run on."""

from __future__ import annotations

import argparse
import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from ..core.errors import NeuronscopeError
from ..core.spec import InputSpec, attach_spec, input_spec, refuse_unreadable
from ..data.base import SPLITS
from .common import channel_values, plugin_arg, positive_int

log = logging.getLogger(__name__)


def data_args(p: argparse.ArgumentParser, data_help: str) -> None:
    """--data, --split, and how folder images become tensors: --image-size, --mean, --std;
    --plugin (a file may register the dataset)."""
    p.add_argument("--data", required=True, help=data_help)
    p.add_argument("--split", choices=SPLITS,
                   help="default test; all for folder:PATH (every file of yours)")
    p.add_argument("--image-size", type=positive_int, metavar="N",
                   help="folder:PATH images and photos are resized to N x N (default: the "
                   "model's input size, else 64 for folders and 224 for photos)")
    p.add_argument("--mean", type=channel_values(), metavar="R,G,B",
                   help="normalize the data: (x - mean) / std (default: the model's)")
    p.add_argument("--std", type=channel_values(positive=True), metavar="R,G,B",
                   help="see --mean")
    plugin_arg(p)


def split_of(args: argparse.Namespace) -> str:
    """The split asked for (``--split``), else ``all`` for a folder of the user's own files
    and ``test`` for built-in data (held out from the zoo's training); sets ``args.split``.

    Example:
        >>> split_of(argparse.Namespace(data="folder:sounds", split=None))
        'all'
    """
    if getattr(args, "split", None) is None:
        args.split = "all" if args.data.startswith("folder:") else "test"
    return args.split


def load_data(args: argparse.Namespace, model: nn.Module) -> Dataset:
    """``args.data`` as the model needs it; a model without an InputSpec gets the data's."""
    split_of(args)
    from .. import data
    from ..data.fit import fit_options, for_model, resizable, tokenized, warn_unmapped, windowed

    spec = input_spec(model)
    mean, std = _normalization(args, spec)
    sounds = spec is not None and spec.kind == "audio" and args.data.startswith("folder:")
    if tokenized(args.data) or sounds:  # text the model's tokenizer cuts; a sound folder
        if sounds and (args.image_size or args.mean or args.std):
            raise NeuronscopeError("--image-size, --mean and --std apply to images; a folder of "
                                   "sounds is read by the model's audio settings")
        dataset = for_model(args.data, model, args.split)
    elif windowed(args.data) and spec is not None and spec.kind == "text":
        dataset = for_model(args.data, model, args.split)  # windows as long as its input
    elif resizable(args.data):
        kwargs = fit_options(args.data, spec, size=args.image_size, mean=mean, std=std)
        dataset = data.load(args.data, split=args.split, **kwargs)
        warn_unmapped(dataset, spec, args.data)
    else:
        if args.image_size:
            raise NeuronscopeError(f"--image-size applies to folder:PATH and photos data; "
                                   f"{args.data!r} comes in one size")
        dataset = _normalized(data.load(args.data, split=args.split), mean, std, args.data)
    if len(dataset) == 0:
        raise NeuronscopeError(_empty(args))
    if spec is None and isinstance(getattr(dataset, "spec", None), InputSpec):
        attach_spec(model, dataset.spec)
    elif spec is not None and mean is not None and (mean, std) != (spec.mean, spec.std):
        attach_spec(model, dataclasses.replace(spec, mean=mean, std=std))
    check_fits(model, dataset, args.model, args.data)
    return dataset


def data_source(args: argparse.Namespace) -> dict[str, Any]:
    """The data arguments of a command, as JSON an atlas keeps so that a server can load
    the same data again (`source_loader`); a folder's path is made absolute."""
    name = args.data
    if name.startswith("folder:"):
        name = "folder:" + str(Path(name.removeprefix("folder:")).expanduser().resolve())
    return {"data": name, "split": split_of(args), "image_size": args.image_size,
            "mean": list(args.mean) if args.mean else None,
            "std": list(args.std) if args.std else None}


def source_loader(source: dict[str, Any], model_name: str) -> Callable[[nn.Module], Dataset]:
    """A function that loads the data `source` (from `data_source`) for a model."""
    args = argparse.Namespace(
        model=model_name, data=source["data"], split=source.get("split", "test"),
        image_size=source.get("image_size"),
        mean=tuple(source["mean"]) if source.get("mean") else None,
        std=tuple(source["std"]) if source.get("std") else None)
    return lambda model: load_data(args, model)


def _normalization(args: argparse.Namespace, spec: InputSpec | None
                   ) -> tuple[tuple[float, ...] | None, tuple[float, ...] | None]:
    mean = args.mean or (spec.mean if spec else None)
    std = args.std or (spec.std if spec else None)
    if (mean is None) != (std is None):
        raise NeuronscopeError("give --mean and --std together (the model's InputSpec has "
                               "no normalization to complete the other)")
    return mean, std


def _normalized(dataset: Dataset, mean: tuple[float, ...] | None,
                std: tuple[float, ...] | None, name: str) -> Dataset:
    """Built-in image data come in 0-1 pixels: normalize them when the model expects it."""
    from ..data.normalize import Normalized

    have = getattr(dataset, "spec", None)
    if mean is None or std is None or not isinstance(have, InputSpec) or have.kind != "image":
        return dataset
    if have.mean is None:
        channels = have.channels
        if len(mean) not in (1, channels) or len(std) not in (1, channels):
            raise NeuronscopeError(f"{name} has {channels} channels; the normalization has "
                                   f"mean {mean} and std {std}: give one value per channel")
        print(f"note: {name} comes in 0-1 pixels; normalizing it with mean {_fmt(mean)} and "
              f"std {_fmt(std)}, as the model expects")
        return Normalized(dataset, mean, std)
    if (have.mean, have.std) != (mean, std):
        log.warning("%s is normalized with mean %s, std %s, but the model expects mean %s, "
                    "std %s", name, _fmt(have.mean), _fmt(have.std), _fmt(mean), _fmt(std))
    return dataset


def _fmt(values: tuple[float, ...] | None) -> str:
    return ",".join(f"{v:g}" for v in values or ())


def _empty(args: argparse.Namespace) -> str:
    text = f"--data {args.data} has no items in split {args.split!r}"
    if args.data.startswith("folder:") and args.split == "test":
        text += ("; the test split takes every 5th file of each class, so a class needs 5 "
                 "files for one: give --split all, or more files")
    elif args.split != "all":
        text += "; try --split all"
    return text


def check_fits(model: nn.Module, dataset: Dataset, model_name: str, data_name: str) -> None:
    """Run the model on the first input; refuse data it cannot run on, naming both shapes
    (C,H,W), and warn when it runs on another shape than its InputSpec's."""
    from ..core.data import item_input
    from ..core.model import model_device

    spec = input_spec(model)
    refuse_unreadable(model, dataset, model_name, data_name)
    x = item_input(dataset, 0)
    got, want = "x".join(map(str, x.shape)), "x".join(map(str, spec.shape)) if spec else "?"
    axes = " (C,H,W)" if spec is not None and len(spec.shape) == 3 else ""
    try:
        with torch.no_grad():
            model(x.unsqueeze(0).to(model_device(model)))
    except Exception as exc:  # the model's own error, shown on one line
        why = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        hint = (" (folder images: --image-size N; a model without an InputSpec: "
                "--input-shape C,H,W)" if data_name.startswith("folder:") else "")
        raise NeuronscopeError(f"{model_name} cannot run on {data_name}: the model wants "
                               f"inputs of {want}{axes} and the data give {got}{hint}. "
                               f"The model said: {why}") from None
    if spec is not None and spec.kind == "image" and tuple(x.shape) != spec.shape:
        log.warning("%s gives inputs of %s but %s's InputSpec says %s; running at the data's "
                    "size", data_name, got, model_name, want)
