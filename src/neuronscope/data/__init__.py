"""Built-in datasets and their registry.

Every dataset is a ``torch.utils.data.Dataset``. Image datasets give ``(x, label)`` items
(x a float32 tensor [C, H, W] in model space, label an int) and have ``classes``, ``spec``
(an :class:`~neuronscope.core.spec.InputSpec`) and ``tensors()`` (the whole split in memory).
Nothing is downloaded: the data come from installed packages or are generated with a seed.

=============  ============================================================  ===========
name           what                                                          splits
=============  ============================================================  ===========
shapes         generated 64x64 scenes of colored shapes, concept masks       10,000/2,000
digits         scikit-learn's 8x8 handwritten digits                         1,437/360
faces          scikit-image's LFW subset: 25x25 faces and non-faces          160/40
photos         photographs bundled with scikit-image (19), scikit-learn (2)  all (222)
               and matplotlib (1), and the LFW subset's 100 faces and 100
               non-faces; any size and normalization; per item ``names``
               and ``groups``; label = item (or group, ``label_by="group"``)
pysource       the Python standard library's source, next-character pairs    by file, 90/10
docstrings     the standard library's docstrings (English prose) as windows  by file, 90/10
               of a text model's tokens: ``load("docstrings", model=m)``
tones          generated 1 s clips: notes, vibrato, chords, drums, silence    4,800/1,200
               as log-mel spectrograms [1, 64, 63]; ``waveform(i)``, ``meta(i)``
folder:PATH    your own image folder (class subfolders, or flat); any size   80/20
               and normalization; ImageNet-style subfolders (WordNet ids)
               labelled with a model's class indices
=============  ============================================================  ===========

Concept data for network dissection (items ``{"image", "masks"}``, names in ``concepts``):
``Shapes(masks=True)``; ``PixelColors(dataset)``, the colours of any images' pixels;
``ConceptFolder(root)``, your own masks (images/, masks/<category>/<concept>/, labels.csv);
``Broden(root)``, NetDissect's Broden folder; ``concept_data(source, model)`` picks one
from a string ("shapes", "colors:NAME", or a folder).

In a model's space: ``load(name, model=model)`` reads photos and folder:PATH at the size
and normalization of the model's InputSpec (and labels WordNet-id subfolders with its
classes); other image data are normalized when the model expects it (see
:func:`neuronscope.data.fit.for_model`).

Example:
    >>> from neuronscope import data
    >>> ds = data.load("digits", split="test")
    >>> x, label = ds[0]
    >>> x.shape, ds.classes[label] in ds.classes
    (torch.Size([1, 8, 8]), True)
    >>> from neuronscope.core.loaders import imagenet_spec
    >>> photos = data.load("photos", model=imagenet_spec())  # a model, or its InputSpec
    >>> photos.spec.shape, photos.names[4], photos.groups[-1]
    ((3, 224, 224), 'chelsea', 'lfw-nonface')
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

from torch.utils.data import Dataset

from neuronscope.core.errors import DatasetNotFoundError
from neuronscope.data.base import SPLITS, check_split

FOLDER_PREFIX = "folder:"

Factory = Callable[..., Dataset]
_REGISTRY: dict[str, Factory] = {}


def register(name: str, factory: Factory) -> None:
    """Register a dataset: ``factory(split=..., **kwargs)`` must return it.

    Registering an existing name replaces it.

    Example:
        >>> import torch
        >>> from torch.utils.data import TensorDataset
        >>> register("ones", lambda split="train": TensorDataset(torch.ones(3, 2)))
        >>> len(load("ones"))
        3
    """
    if not isinstance(name, str) or not name or name.startswith(FOLDER_PREFIX):
        raise ValueError(f"a dataset name must be a non-empty string not starting with "
                         f"{FOLDER_PREFIX!r}, got {name!r}")  # fmt: skip
    if not callable(factory):
        raise TypeError(f"factory for {name!r} must be callable, got {type(factory).__name__}")
    _REGISTRY[name] = factory


def names() -> list[str]:
    """The registered dataset names, sorted (``"folder:PATH"`` is always available too).

    Example:
        >>> "shapes" in names()
        True
    """
    return sorted(_REGISTRY)


def load(name: str, split: str | None = None, *, model: Any = None, **kwargs: Any
         ) -> Dataset:
    """Load a dataset by name.

    ``split`` is "train", "test" or "all"; None (the default) means the dataset's own
    default: "train" for the built-ins with a held-out part, "all" for ``photos`` and
    ``folder:PATH``. Keyword arguments go to the dataset (e.g. ``n=`` and ``masks=`` for
    ``shapes``, ``size=``, ``mean=``, ``std=``, ``groups=`` for ``photos``, ``seq_len=``
    for ``pysource``). With ``model`` (a model or an InputSpec) the data come in the
    model's space: its size, normalization and, for ImageNet-style folders, class indices
    (:func:`neuronscope.data.fit.for_model`; keyword arguments override the model's).

    Example:
        >>> ds = load("shapes", split="test", n=16)
        >>> len(ds), ds.spec.shape
        (16, (3, 64, 64))
    """
    if model is not None:
        from neuronscope.data.fit import for_model

        return for_model(name, model, split, **kwargs)
    if split is not None:
        check_split(split)
    split_kw = {} if split is None else {"split": split}
    if isinstance(name, str) and name.startswith(FOLDER_PREFIX):
        from neuronscope.data.folder import ImageFolder

        return ImageFolder(name[len(FOLDER_PREFIX) :], **split_kw, **kwargs)
    if name not in _REGISTRY:
        known = names()
        close = difflib.get_close_matches(str(name), known, n=3, cutoff=0.5)
        hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
        raise DatasetNotFoundError(
            f"unknown dataset {name!r}; {hint}available datasets: {', '.join(known)} "
            f"(or '{FOLDER_PREFIX}PATH' for a folder of images)"
        )
    return _REGISTRY[name](**split_kw, **kwargs)


# built-in factories import their module on first use, so importing neuronscope stays fast


def _shapes(split: str = "train", **kwargs: Any) -> Dataset:
    from neuronscope.data.shapes import Shapes

    return Shapes(split, **kwargs)


def _digits(split: str = "train", **kwargs: Any) -> Dataset:
    from neuronscope.data.digits import Digits

    return Digits(split, **kwargs)


def _faces(split: str = "train", **kwargs: Any) -> Dataset:
    from neuronscope.data.faces import Faces

    return Faces(split, **kwargs)


def _photos(split: str = "all", **kwargs: Any) -> Dataset:
    from neuronscope.data.photos import Photos

    return Photos(split, **kwargs)


def _pysource(split: str = "train", **kwargs: Any) -> Dataset:
    from neuronscope.data.pysource import PySource

    return PySource(split, **kwargs)


def _docstrings(split: str = "train", **kwargs: Any) -> Dataset:
    from neuronscope.data.docstrings import Docstrings

    return Docstrings(split, **kwargs)


def _tones(split: str = "train", **kwargs: Any) -> Dataset:
    from neuronscope.data.tones import Tones

    return Tones(split, **kwargs)


for _name, _factory in [
    ("shapes", _shapes),
    ("docstrings", _docstrings),
    ("digits", _digits),
    ("faces", _faces),
    ("photos", _photos),
    ("pysource", _pysource),
    ("tones", _tones),
]:
    register(_name, _factory)

from neuronscope.data.broden import Broden  # noqa: E402 - after the registry
from neuronscope.data.colors import COLOR_NAMES, PixelColors  # noqa: E402
from neuronscope.data.concept_folder import ConceptFolder  # noqa: E402
from neuronscope.data.concepts import concept_data  # noqa: E402

__all__ = ["COLOR_NAMES", "FOLDER_PREFIX", "SPLITS", "Broden", "ConceptFolder", "PixelColors",
           "concept_data", "load", "names", "register"]
