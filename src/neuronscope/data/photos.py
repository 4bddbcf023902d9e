"""Real photographs bundled with scikit-image, scikit-learn and matplotlib, and
scikit-image's LFW faces and non-faces, at any size and normalization (no download)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch

from neuronscope.core.spec import InputSpec
from neuronscope.data.base import TensorImageDataset, check_split, to_chw
from neuronscope.data.normalize import parse_normalization, parse_size
from neuronscope.data.photo_sources import (
    GROUPS,
    PHOTO_NAMES,
    SOURCE,
    fit,
    group_of,
    lfw_names,
    raw,
)

log = logging.getLogger(__name__)

LABEL_BY = ("photo", "group")
__all__ = ["GROUPS", "LABEL_BY", "PHOTO_NAMES", "Photos", "photo", "photo_for"]


def photo(name: str, size: int | Sequence[int] = 224) -> torch.Tensor:
    """One photograph (a name of ``PHOTO_NAMES``, or an LFW item such as ``lfw-face-007``)
    as a float32 tensor [3, H, W] in [0, 1]: center-cropped to the aspect ratio of `size`
    (N or (height, width)) and resized with antialiasing; grayscale becomes RGB.

    Example:
        >>> photo("astronaut", size=64).shape
        torch.Size([3, 64, 64])
    """
    if group_of(name) is None:
        import difflib

        close = difflib.get_close_matches(name, PHOTO_NAMES, n=3)
        hint = f" did you mean {', '.join(map(repr, close))}?" if close else ""
        raise KeyError(f"unknown photo {name!r};{hint} available: {', '.join(PHOTO_NAMES)}, "
                       "and lfw-face-000 to -099, lfw-nonface-000 to -099")
    return to_chw(fit(raw(name), *parse_size(size)))


def photo_for(name: str, spec: InputSpec) -> torch.Tensor:
    """A photograph as a model of `spec` takes it in display space: at its input size, gray
    for a model that does not take 3 channels, in its value range.

    Example:
        >>> photo_for("astronaut", InputSpec(shape=(1, 16, 24), value_range=(-1.0, 1.0))).shape
        torch.Size([1, 16, 24])
    """
    c, h, w = spec.shape
    x = photo(name, size=(h, w))
    x = x.mean(0, keepdim=True).expand(c, -1, -1).contiguous() if c != 3 else x
    lo, hi = spec.value_range
    return x if (lo, hi) == (0.0, 1.0) else lo + (hi - lo) * x


def _groups(groups: str | Sequence[str] | None) -> list[str]:
    chosen = list(GROUPS) if groups is None else [groups] if isinstance(groups, str) else list(
        groups)
    bad = [g for g in chosen if g not in GROUPS]
    if bad or not chosen:
        raise ValueError(f"groups must name some of {', '.join(map(repr, GROUPS))}; got "
                         f"{groups!r}")
    return [g for g in GROUPS if g in chosen]


def _available(groups: list[str]) -> list[str]:
    """The item names of `groups` that their packages provide; the others are logged."""
    names = [n for n in PHOTO_NAMES if SOURCE[n] in groups]
    names += [n for g in groups if g.startswith("lfw-") for n in lfw_names(g)]
    kept, missing = [], []
    for name in names:
        try:
            raw(name)
        except (ImportError, OSError, ValueError) as err:  # a package without its data
            missing.append(name)
            why = err
        else:
            kept.append(name)
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5
                                          else "")
        log.warning("%d photos are not available offline, skipped: %s (%s)", len(missing),
                    shown, why)
    return kept


class Photos(TensorImageDataset):
    """Real photographs: every one bundled with scikit-image (19), scikit-learn (2) and
    matplotlib (1), then scikit-image's LFW subset: 100 faces and 100 non-faces (25x25
    grayscale, upsampled). 222 items, one per photograph.

    Every item is center-cropped to the aspect ratio of ``size`` (N, or (height, width)),
    resized with antialiasing and made RGB; with ``mean`` and ``std`` (one number or one per
    channel) it is normalized, ``(x - mean) / std``, and the spec records it.
    ``load("photos", model=model)`` takes all three from the model's InputSpec.

    Each item has a name (``names``: "astronaut", ..., "lfw-face-000", ...) and a group
    (``groups``: "skimage", "sklearn", "matplotlib", "lfw-face" or "lfw-nonface"); the
    named photos come first (sorted), then the faces, then the non-faces. ``groups=`` keeps
    some groups only. Labels: ``label_by="photo"`` (the default) makes every item its own
    class (``classes`` = ``names``, label = item index); ``label_by="group"`` labels items
    by group (``classes`` = the groups kept, in the order above), e.g. for the class
    selectivity of faces against non-faces. There is no held-out part: the splits "train",
    "test" and "all" all return every item. A photo its package cannot provide offline is
    skipped with a logged warning.

    Example:
        >>> ds = Photos(size=32)
        >>> x, label = ds[0]
        >>> x.shape, ds.classes[label], ds.groups[0]
        (torch.Size([3, 32, 32]), 'astronaut', 'skimage')
        >>> faces = Photos(size=32, groups=["lfw-face", "lfw-nonface"], label_by="group")
        >>> len(faces), faces.classes
        (200, ['lfw-face', 'lfw-nonface'])
    """

    def __init__(
        self,
        split: str = "all",
        size: int | Sequence[int] = 224,
        mean: float | Sequence[float] | None = None,
        std: float | Sequence[float] | None = None,
        groups: str | Sequence[str] | None = None,
        label_by: str = "photo",
    ) -> None:
        check_split(split)
        height, width = parse_size(size)
        mean, std = parse_normalization(mean, std)
        if label_by not in LABEL_BY:
            raise ValueError(f"label_by must be 'photo' or 'group', got {label_by!r}")
        kept = _groups(groups)
        self.names: list[str] = _available(kept)
        if not self.names:
            raise ValueError(f"none of the photos of {', '.join(kept)} is available offline "
                             "(see the logged warnings)")
        self.groups: list[str] = [str(group_of(n)) for n in self.names]
        if label_by == "photo":
            classes, labels = list(self.names), list(range(len(self.names)))
        else:
            classes = [g for g in kept if g in self.groups]
            labels = [classes.index(g) for g in self.groups]
        spec = InputSpec(shape=(3, height, width), kind="image", mean=mean, std=std,
                         class_names=list(classes), extra={"dataset": "photos"})
        pixels = np.stack([fit(raw(n), height, width) for n in self.names])
        images = spec.to_model(to_chw(pixels))
        super().__init__(images, torch.tensor(labels, dtype=torch.int64), classes, spec)
        self.split, self.label_by = split, label_by
        self.size = height if height == width else (height, width)
