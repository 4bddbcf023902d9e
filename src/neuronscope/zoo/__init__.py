"""Built-in models: an architecture, a training recipe and a weight cache for each.

Models train on first use (seconds to a few minutes on a CPU, deterministic for the
recipe's seed) and are cached as safetensors under ``$NEURONSCOPE_CACHE/zoo`` (default
``~/.cache/neuronscope/zoo``).

Example:
    >>> import neuronscope.zoo as zoo
    >>> zoo.names()
    ['shapes-cnn', 'digits-mlp', 'digits-cnn']
    >>> model = zoo.load("digits-mlp", progress=False)  # doctest: +SKIP
"""

from .cache import cache_root
from .recipes import (
    RECIPES,
    Recipe,
    ZooModelNotFoundError,
    digits_cnn,
    digits_mlp,
    names,
    recipe,
    shapes_cnn,
)
from .training import accuracy, load, train

__all__ = [
    "RECIPES", "Recipe", "ZooModelNotFoundError", "accuracy", "cache_root", "digits_cnn",
    "digits_mlp", "load", "names", "recipe", "shapes_cnn", "train",
]
