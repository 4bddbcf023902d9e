"""What a built-in model is trained on and how it is scored: a `Task`, and the registry.

A recipe names its task (``Recipe.task``, default ``"classify"``); `fit` looks it up
with `get_task` and runs it: the task loads the data, cuts an epoch into batches, gives
the loss of a batch and evaluates the trained model. The task's *name* is part of the
cache key, its code is not: bump ``Recipe.version`` when a task's behavior changes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from neuronscope.core.errors import ModelLoadError, did_you_mean

if TYPE_CHECKING:
    from neuronscope.core.spec import InputSpec

    from .recipes import Recipe

TASK_METHODS = ("load", "n_batches", "batches", "loss", "evaluate")


class TaskNotFoundError(ModelLoadError, KeyError):
    """An unknown task name (a ModelLoadError, and a KeyError for lookups)."""


class Task(ABC):
    """What is trained and how it is scored; subclass it and `register_task` an instance.

    ``train_data`` and ``test_data`` are whatever `load` returns; `fit` only passes them
    back to the other methods. `batches` must draw all its randomness from the generator
    it is given (seeded from the recipe) and yield exactly `n_batches` batches.

    Example:
        >>> task = get_task("classify")
        >>> isinstance(task, Task)
        True
    """

    @abstractmethod
    def load(self, recipe: Recipe) -> tuple[Any, Any, InputSpec]:
        """(train data, test data, input spec of the trained model) for `recipe`."""

    @abstractmethod
    def n_batches(self, train_data: Any, recipe: Recipe) -> int:
        """How many batches one epoch has (the learning-rate schedule is sized by it)."""

    @abstractmethod
    def batches(self, train_data: Any, recipe: Recipe, generator: torch.Generator) -> Iterator[Any]:
        """The batches of one epoch, in order, shuffled and augmented from `generator`."""

    @abstractmethod
    def loss(self, model: nn.Module, batch: Any, recipe: Recipe) -> torch.Tensor:
        """The scalar training loss of `model` on one batch (the model is in train mode)."""

    def evaluate(self, model: nn.Module, train_data: Any, test_data: Any) -> dict[str, Any]:
        """Plain JSON metrics of the trained model (in eval mode); none by default."""
        return {}


_TASKS: dict[str, Task] = {}


def register_task(name: str, task: Task) -> Task:
    """Register `task` (an instance) under `name`, replacing any task of that name.

    Example:
        >>> register_task("classify", get_task("classify")) is get_task("classify")
        True
    """
    if isinstance(task, type):
        raise TypeError(f"register_task({name!r}, ...) needs a task instance, got the class "
                        f"{task.__name__}; write {task.__name__}()")
    missing = [m for m in TASK_METHODS if not callable(getattr(task, m, None))]
    if missing:
        raise TypeError(f"task {name!r} lacks the method(s) {', '.join(missing)}; "
                        f"a task needs {', '.join(TASK_METHODS)} (subclass Task)")
    _TASKS[name] = task
    return task


def get_task(name: str) -> Task:
    """The task registered under `name`; an unknown name raises TaskNotFoundError.

    Example:
        >>> type(get_task("classify")).__name__
        'ClassifyTask'
    """
    if name not in _TASKS:
        raise TaskNotFoundError(
            f"no training task {name!r}.{did_you_mean(name, list(_TASKS))} Known tasks: "
            f"{', '.join(sorted(_TASKS))} "
            "(add one with neuronscope.zoo.tasks.register_task)"
        )
    return _TASKS[name]


def task_names() -> list[str]:
    """The names of the registered tasks, sorted.

    Example:
        >>> "classify" in task_names()
        True
    """
    return sorted(_TASKS)
