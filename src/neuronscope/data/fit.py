"""Data made to fit a model: resizable data (photos, folder:PATH) loaded at the size and
normalization of the model's InputSpec, ImageNet-style folders labelled with its classes,
and built-in data of a fixed size normalized when the model expects it."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from torch import nn
from torch.utils.data import Dataset

from neuronscope.core.errors import NeuronscopeError
from neuronscope.core.spec import InputSpec, data_spec, input_spec, spec_mismatch
from neuronscope.data import FOLDER_PREFIX
from neuronscope.data.normalize import Normalized
from neuronscope.data.wnids import looks_like_wnids

log = logging.getLogger(__name__)

RESIZABLE = ("photos",)  # built-ins that take size=, mean= and std= (as folder:PATH does)
TOKENIZED = ("docstrings",)  # text cut by the model's own tokenizer: they take spec=
WINDOWED = ("pysource",)  # characters cut into windows of seq_len: as long as the model's


def tokenized(name: str) -> bool:
    """Whether dataset `name` is text that a model's tokenizer cuts (it takes ``spec=``).

    Example:
        >>> tokenized("docstrings"), tokenized("pysource")
        (True, False)
    """
    return name in TOKENIZED


def windowed(name: str) -> bool:
    """Whether dataset `name` is characters cut into windows of any length (``seq_len=``),
    which a text model gets as long as its input.

    Example:
        >>> windowed("pysource"), windowed("docstrings")
        (True, False)
    """
    return name in WINDOWED


def resizable(name: str) -> bool:
    """Whether dataset `name` is read at any size and normalization (photos, folder:PATH).

    Example:
        >>> resizable("photos"), resizable("folder:pics"), resizable("digits")
        (True, True, False)
    """
    return name.startswith(FOLDER_PREFIX) or name in RESIZABLE


def image_size(spec: InputSpec | None) -> int | tuple[int, int] | None:
    """The image size of an image spec: N when square, else (height, width); None if not
    an image spec.

    Example:
        >>> image_size(InputSpec(shape=(3, 224, 224)))
        224
    """
    if spec is None or spec.kind != "image" or len(spec.shape) != 3:
        return None
    _, h, w = spec.shape
    return h if h == w else (h, w)


def fit_options(name: str, spec: InputSpec | None, size: int | Sequence[int] | None = None,
                mean: Sequence[float] | None = None, std: Sequence[float] | None = None
                ) -> dict[str, Any]:
    """The keyword arguments that load resizable data `name` as a model of `spec` takes it:
    its size, mean and std (`size`, `mean`, `std` override them) and, for folder:PATH, its
    WordNet ids and class names (``spec.extra["wnids"]``).

    Example:
        >>> fit_options("photos", InputSpec(shape=(3, 32, 32), mean=(0.5,) * 3, std=(0.2,) * 3))
        {'size': 32, 'mean': (0.5, 0.5, 0.5), 'std': (0.2, 0.2, 0.2)}
    """
    kwargs: dict[str, Any] = {}
    size = size or image_size(spec)
    if size is not None:
        kwargs["size"] = size
    if mean is None and std is None and spec is not None:
        mean, std = spec.mean, spec.std
    if mean is not None or std is not None:
        kwargs.update(mean=mean, std=std)
    wnids = spec.extra.get("wnids") if spec is not None else None
    if name.startswith(FOLDER_PREFIX) and wnids:
        kwargs.update(wnids=list(wnids), class_names=spec.class_names)  # type: ignore[union-attr]
    return kwargs


def warn_unmapped(dataset: Dataset, spec: InputSpec | None, name: str) -> None:
    """Warn when a folder's subfolders are WordNet ids that no wnids of the model mapped to
    its classes: accuracy against the model's classes would count the folders' order."""
    folders = getattr(dataset, "folders", None)
    if (spec is not None and spec.class_names and getattr(dataset, "wnids", 1) is None
            and folders and looks_like_wnids(folders) and not spec.extra.get("wnids")):
        log.warning("the subfolders of %s are WordNet ids, but the model's InputSpec has no "
                    "extra['wnids'] to map them to its classes: labels are the subfolders' "
                    "order, which is the model's class index only for a full, sorted set",
                    name)


def for_model(name: str, model: nn.Module | InputSpec, split: str | None = None,
              **kwargs: Any) -> Dataset:
    """Dataset `name` as `model` (or an InputSpec) takes it, the model space of its spec.

    photos and folder:PATH are read at the spec's size with its mean and std (keyword
    arguments override them); a folder whose subfolders are the model's WordNet ids
    (``spec.extra["wnids"]``) is labelled with the model's class indices. Other image data
    come in one size: 0-1 data are normalized with the spec's mean and std (a
    :class:`Normalized` view), and a size other than the spec's is logged. Character text
    (pysource) comes in windows of the spec's length. A model without an InputSpec gets
    the data as they come.

    Example:
        >>> spec = InputSpec(shape=(3, 32, 32), mean=(0.5,) * 3, std=(0.25,) * 3)
        >>> ds = for_model("photos", spec)
        >>> ds.spec.shape, ds.spec.mean
        ((3, 32, 32), (0.5, 0.5, 0.5))
    """
    from neuronscope import data

    spec = model if isinstance(model, InputSpec) else input_spec(model)
    if spec is None:
        log.info("the model has no InputSpec: %s is loaded as it comes", name)
        return data.load(name, split, **kwargs)
    if tokenized(name):
        return data.load(name, split, spec=spec, **kwargs)
    if windowed(name) and spec.kind == "text" and len(spec.shape) == 1 \
            and "seq_len" not in kwargs:  # windows as long as the model's input
        return data.load(name, split, seq_len=int(spec.shape[0]), **kwargs)
    if spec.kind == "audio" and name.startswith(FOLDER_PREFIX):  # a folder of sounds
        from neuronscope.data.sound_folder import sound_folder

        return sound_folder(name, spec, split, **kwargs)
    if resizable(name):
        options = {**fit_options(name, spec), **kwargs}
        if options.get("wnids") is None and "class_names" not in kwargs:  # wnids=None given
            options.pop("class_names", None)
        dataset = data.load(name, split, **options)
        warn_unmapped(dataset, spec, name)
        return dataset
    dataset = data.load(name, split, **kwargs)
    why = spec_mismatch(spec, data_spec(dataset))
    if why:
        raise NeuronscopeError(f"the model cannot read {name}: {why}")
    return normalized(dataset, spec, name)


def normalized(dataset: Dataset, spec: InputSpec, name: str) -> Dataset:
    """0-1 image data normalized with the spec's mean and std (unchanged when the spec has
    none or the data are normalized already); a ValueError when the channels disagree."""
    have = getattr(dataset, "spec", None)
    if not isinstance(have, InputSpec) or have.kind != "image" or spec.kind != "image":
        return dataset
    if image_size(have) != image_size(spec):
        log.warning("%s gives inputs of %s but the model's InputSpec says %s", name,
                    "x".join(map(str, have.shape)), "x".join(map(str, spec.shape)))
    if have.mean is not None and (have.mean, have.std) != (spec.mean, spec.std):
        log.warning("%s is normalized with mean %s and std %s, but the model expects mean %s "
                    "and std %s", name, have.mean, have.std, spec.mean, spec.std)
    if spec.mean is None or spec.std is None or have.mean is not None:
        return dataset
    if len(spec.mean) not in (1, have.channels) or len(spec.std) not in (1, have.channels):
        raise ValueError(f"{name} has {have.channels} channels and the model's normalization "
                         f"{len(spec.mean)}: its mean {spec.mean} and std {spec.std} do not fit")
    log.info("%s comes in 0-1 pixels: normalized with mean %s and std %s", name, spec.mean,
             spec.std)
    return Normalized(dataset, spec.mean, spec.std)
