"""Built-in models: an architecture, a training recipe and a weight cache for each, or
packaged pretrained weights (`neuronscope.zoo.pretrained`: efficientnet-lite0, minilm).

Models with a recipe train on first use (seconds to a few minutes on a CPU, deterministic for the
recipe's seed) and are cached as safetensors under ``$NEURONSCOPE_CACHE/zoo`` (default
``~/.cache/neuronscope/zoo``).

Example:
    >>> import neuronscope.zoo as zoo
    >>> print(*zoo.names())
    shapes-cnn digits-mlp digits-cnn pysource-lstm tones-cnn efficientnet-lite0 minilm
    >>> model = zoo.load("digits-mlp", progress=False)  # doctest: +SKIP
"""

from neuronscope.core.model import register_loader

from .cache import cache_root
from .callbacks import Callback, TrainState
from .generator import GENERATORS, ConvVAE, GeneratorRecipe, generator, generator_names
from .pretrained import PRETRAINED, Pretrained, register_pretrained
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
from .tasks import Task, get_task, register_task, task_names
from .training import accuracy, fit, load, train

register_loader("zoo", lambda name, device=None: load(name, device=device),
                "zoo:NAME  a built-in model, e.g. zoo:shapes-cnn (neuronscope.zoo.names())")

__all__ = [
    "GENERATORS", "PRETRAINED", "RECIPES", "Callback", "ConvVAE", "GeneratorRecipe",
    "Pretrained", "Recipe", "Task", "TrainState",
    "ZooModelNotFoundError", "accuracy", "cache_root", "digits_cnn", "digits_mlp", "fit",
    "generator", "generator_names", "get_task", "load", "names", "recipe",
    "register_pretrained", "register_task", "shapes_cnn", "task_names", "train",
]
