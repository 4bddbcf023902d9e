"""Image classification, the task of the built-in image models (registered as ``"classify"``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from neuronscope.core.spec import InputSpec

from .recipes import Recipe
from .tasks import Task, register_task

_EVAL_BATCH = 500

Pair = tuple[torch.Tensor, torch.Tensor]


def load_split(
    dataset: str, split: str, n: int | None = None
) -> tuple[Any, torch.Tensor, torch.Tensor]:
    """(dataset object, X, y) of a built-in dataset split, cut to its first `n` items."""
    from neuronscope import data

    if n is None:
        ds = data.load(dataset, split=split)
    else:
        try:  # generated datasets make only the items asked for
            ds = data.load(dataset, split=split, n=n)
        except TypeError:
            ds = data.load(dataset, split=split)
    X, y = ds.tensors()
    if n is not None:
        X, y = X[:n], y[:n]
    return ds, X, y


def augment(x: torch.Tensor, r: Recipe, g: torch.Generator) -> torch.Tensor:
    """Apply the recipe's training augmentations to a batch, drawing from `g`."""
    b = x.shape[0]

    def coin() -> torch.Tensor:
        return (torch.rand(b, generator=g) < 0.5).view(b, 1, 1, 1)

    if r.dihedral:
        if x.shape[-1] != x.shape[-2]:
            raise ValueError(f"dihedral augmentation needs square images, got {tuple(x.shape)}")
        x = torch.where(coin(), x.transpose(-1, -2), x)
        x = torch.where(coin(), x.flip(-2), x)
    if r.flip or r.dihedral:
        x = torch.where(coin(), x.flip(-1), x)
    if r.shift > 0:
        s, (h, w) = r.shift, x.shape[-2:]
        padded = F.pad(x, [s, s, s, s], mode="replicate")
        dy = torch.randint(0, 2 * s + 1, (b,), generator=g).tolist()
        dx = torch.randint(0, 2 * s + 1, (b,), generator=g).tolist()
        x = torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(b)])
    return x.contiguous()


@torch.no_grad()
def accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    """Top-1 accuracy of `model` (run in eval mode) on (X, y).

    Example:
        >>> m = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
        >>> 0.0 <= accuracy(m, torch.zeros(3, 1, 2, 2), torch.tensor([0, 1, 0])) <= 1.0
        True
    """
    was_training = model.training
    model.eval()
    correct = 0
    for i in range(0, len(y), _EVAL_BATCH):
        correct += int((model(X[i:i + _EVAL_BATCH]).argmax(1) == y[i:i + _EVAL_BATCH]).sum())
    model.train(was_training)
    return correct / max(1, len(y))


class ClassifyTask(Task):
    """Classify the images of a built-in dataset: cross entropy, top-1 accuracy.

    Data are ``(X, y)`` tensor pairs; a batch is ``(augmented images, labels)``. An epoch
    is a fresh permutation cut into full batches (the remainder is dropped, for batch norm).

    Example:
        >>> from neuronscope.zoo.recipes import recipe
        >>> r = recipe("digits-mlp").replace(n_train=100, n_test=10)
        >>> train, test, spec = ClassifyTask().load(r)
        >>> ClassifyTask().n_batches(train, r), spec.class_names[:3]
        (3, ['0', '1', '2'])
    """

    def load(self, recipe: Recipe) -> tuple[Pair, Pair, InputSpec]:
        r = recipe
        train_ds, X, y = load_split(r.dataset, "train", r.n_train)
        test_ds, Xt, yt = load_split(r.dataset, "test", r.n_test)
        classes = list(train_ds.classes)
        if len(classes) != r.n_classes:
            raise ValueError(
                f"recipe {r.name!r} expects {r.n_classes} classes but dataset {r.dataset!r} "
                f"has {len(classes)}: {classes}"
            )
        spec = InputSpec.from_json(test_ds.spec.to_json())
        spec.class_names = classes
        return (X, y), (Xt, yt), spec

    def n_batches(self, train_data: Pair, recipe: Recipe) -> int:
        return max(1, len(train_data[1]) // recipe.batch_size)

    def batches(
        self, train_data: Pair, recipe: Recipe, generator: torch.Generator
    ) -> Iterator[Pair]:
        X, y = train_data
        size = recipe.batch_size
        perm = torch.randperm(len(y), generator=generator)
        for i in range(self.n_batches(train_data, recipe)):
            idx = perm[i * size:(i + 1) * size]
            yield augment(X[idx], recipe, generator), y[idx]

    def loss(self, model: nn.Module, batch: Pair, recipe: Recipe) -> torch.Tensor:
        x, y = batch
        return F.cross_entropy(model(x), y, label_smoothing=recipe.label_smoothing)

    def evaluate(self, model: nn.Module, train_data: Pair, test_data: Pair) -> dict[str, Any]:
        return {
            "test_accuracy": accuracy(model, *test_data),
            "train_accuracy": accuracy(model, *train_data),
            "n_train": len(train_data[1]),
            "n_test": len(test_data[1]),
        }


register_task("classify", ClassifyTask())
