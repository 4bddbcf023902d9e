"""ImageNet-style folders: class subfolders named by WordNet id (``n01440764``) labelled with
a model's class indices, so that accuracy and selectivity are measured against its classes."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from neuronscope.core.errors import NeuronscopeError

log = logging.getLogger(__name__)

WNID = re.compile(r"n\d{8}")


class WnidMismatchError(NeuronscopeError, ValueError):
    """Some, but not all, class subfolders of an image folder are WordNet ids of the model."""


def looks_like_wnids(folders: Sequence[str]) -> bool:
    """Whether every folder name has the form of a WordNet id (``n`` and eight digits).

    Example:
        >>> looks_like_wnids(["n01440764", "n01443537"]), looks_like_wnids(["cats"])
        (True, False)
    """
    return bool(folders) and all(WNID.fullmatch(f) for f in folders)


def wnid_labels(folders: Sequence[str], wnids: Sequence[str], where: str) -> list[int] | None:
    """The model's class index of each subfolder when every one is among `wnids` (index =
    class); None when none is. Some but not all: a `WnidMismatchError` naming the others, as
    labels that mix the model's classes and folder numbers would make accuracy wrong.

    Example:
        >>> wnid_labels(["n02", "n00"], ["n00", "n01", "n02"], "val")
        [2, 0]
        >>> wnid_labels(["cats", "dogs"], ["n00", "n01"], "pets") is None
        True
    """
    index = {w: i for i, w in enumerate(wnids)}
    found = [index.get(f) for f in folders]
    if all(i is None for i in found):
        if looks_like_wnids(folders):
            log.warning("the subfolders of %s look like WordNet ids but none is one of the "
                        "model's %d classes: labels are the subfolders' order", where,
                        len(wnids))
        return None
    others = [f for f, i in zip(folders, found, strict=True) if i is None]
    if others:
        listed = ", ".join(repr(f) for f in others[:5]) + (
            f" and {len(others) - 5} more" if len(others) > 5 else "")
        raise WnidMismatchError(
            f"{len(folders) - len(others)} of the {len(folders)} class subfolders of {where} "
            f"are WordNet ids of the model's classes, but {len(others)} "
            f"{'is' if len(others) == 1 else 'are'} not: {listed}. The labels would mix the "
            "model's class indices with folder numbers; move or rename "
            f"{'it' if len(others) == 1 else 'them'} (from Python, wnids=None labels every "
            "subfolder by its order instead, not by the model's classes)")
    return [int(i) for i in found if i is not None]
