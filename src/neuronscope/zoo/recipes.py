"""The built-in models: one `Recipe` each (architecture builder plus training settings).

Layer names matter (other code addresses units such as ``"conv3:17"``), so every
architecture is an ``nn.Sequential`` of named layers with short, flat paths.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from neuronscope.core.errors import ModelLoadError, did_you_mean

from . import charlm_task  # noqa: F401 - registers the task "charlm"
from .charlm import char_lstm

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine", "onecycle")


class ZooModelNotFoundError(ModelLoadError, KeyError):
    """An unknown built-in model name (a ModelLoadError, and a KeyError for lookups)."""


@dataclass(frozen=True)
class Recipe:
    """How a built-in model is built and trained.

    ``builder(n_classes)`` returns the untrained architecture. ``n_train`` / ``n_test``
    limit training / evaluation to the first items of a split (None: the whole split).
    Augmentations apply to training batches only: ``flip`` mirrors left-right,
    ``dihedral`` applies a random one of the 8 flips and quarter turns, ``shift``
    translates by up to that many pixels (edges replicated). ``task`` names the
    registered `neuronscope.zoo.tasks.Task` that supplies data, loss and evaluation
    (``"classify"``: image classification). ``version`` is bumped by hand when training
    code changes in a way the fields do not show; every field except ``description`` is
    part of the cache key (``task`` only when it is not the default).

    Example:
        >>> r = recipe("digits-mlp")
        >>> r.dataset, r.n_classes
        ('digits', 10)
        >>> r.builder(r.n_classes)[-1]
        Linear(in_features=50, out_features=10, bias=True)
    """

    name: str
    dataset: str
    builder: Callable[[int], nn.Module]
    n_classes: int
    epochs: int
    batch_size: int
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9  # sgd only
    schedule: str = "cosine"
    label_smoothing: float = 0.0
    seed: int = 0
    n_train: int | None = None
    n_test: int | None = None
    flip: bool = False
    dihedral: bool = False
    shift: int = 0
    version: str = "1"
    description: str = ""
    task: str = "classify"

    def __post_init__(self) -> None:
        if not isinstance(self.task, str) or not self.task:
            raise ValueError(f"task must be a registered task name, got {self.task!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(
                f"epochs and batch_size must be positive, got {self.epochs}, {self.batch_size}"
            )
        for key in ("n_train", "n_test"):
            value = getattr(self, key)
            if value is not None and value < 1:
                raise ValueError(f"{key} must be positive or None, got {value}")

    def fields(self) -> dict[str, Any]:
        """The fields as plain JSON values (the builder as its qualified name)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["builder"] = f"{self.builder.__module__}.{self.builder.__qualname__}"
        return out

    def replace(self, **overrides: Any) -> Recipe:
        """A copy with some fields changed; unknown field names raise a TypeError naming them.

        Example:
            >>> recipe("digits-mlp").replace(epochs=1).epochs
            1
        """
        valid = [f.name for f in dataclasses.fields(self)]
        bad = [k for k in overrides if k not in valid]
        if bad:
            raise TypeError(
                f"unknown recipe field(s) {', '.join(map(repr, bad))}; valid: {', '.join(valid)}"
            )
        return dataclasses.replace(self, **overrides)


def shapes_cnn(n_classes: int = 7) -> nn.Sequential:
    """A small AlexNet-like convnet for 3x64x64 images (batch norm after each conv).

    Example:
        >>> import torch
        >>> shapes_cnn(7)(torch.zeros(2, 3, 64, 64)).shape
        torch.Size([2, 7])
    """
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(3, 32, 5, stride=2, padding=2)),  # 32x32
        ("bn1", nn.BatchNorm2d(32)),
        ("relu1", nn.ReLU(inplace=True)),
        ("pool1", nn.MaxPool2d(2)),  # 16x16
        ("conv2", nn.Conv2d(32, 64, 3, padding=1)),
        ("bn2", nn.BatchNorm2d(64)),
        ("relu2", nn.ReLU(inplace=True)),
        ("pool2", nn.MaxPool2d(2)),  # 8x8
        ("conv3", nn.Conv2d(64, 96, 3, padding=1)),
        ("bn3", nn.BatchNorm2d(96)),
        ("relu3", nn.ReLU(inplace=True)),
        ("conv4", nn.Conv2d(96, 96, 3, padding=1)),
        ("bn4", nn.BatchNorm2d(96)),
        ("relu4", nn.ReLU(inplace=True)),
        ("pool4", nn.MaxPool2d(2)),  # 4x4
        ("flatten", nn.Flatten()),
        ("fc5", nn.Linear(96 * 4 * 4, 128)),
        ("relu5", nn.ReLU(inplace=True)),
        ("drop5", nn.Dropout(0.3)),
        ("fc6", nn.Linear(128, n_classes)),
    ]))


def digits_mlp(n_classes: int = 10) -> nn.Sequential:
    """A 64-100-50-10 perceptron for 1x8x8 digits.

    Example:
        >>> import torch
        >>> digits_mlp()(torch.zeros(2, 1, 8, 8)).shape
        torch.Size([2, 10])
    """
    return nn.Sequential(OrderedDict([
        ("flatten", nn.Flatten()),
        ("fc1", nn.Linear(64, 100)),
        ("relu1", nn.ReLU()),
        ("fc2", nn.Linear(100, 50)),
        ("relu2", nn.ReLU()),
        ("fc3", nn.Linear(50, n_classes)),
    ]))


def digits_cnn(n_classes: int = 10) -> nn.Sequential:
    """A small convnet for 1x8x8 digits.

    Example:
        >>> import torch
        >>> digits_cnn()(torch.zeros(2, 1, 8, 8)).shape
        torch.Size([2, 10])
    """
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(1, 16, 3, padding=1)),  # 8x8
        ("relu1", nn.ReLU()),
        ("pool1", nn.MaxPool2d(2)),  # 4x4
        ("conv2", nn.Conv2d(16, 32, 3, padding=1)),
        ("relu2", nn.ReLU()),
        ("pool2", nn.MaxPool2d(2)),  # 2x2
        ("flatten", nn.Flatten()),
        ("fc3", nn.Linear(32 * 2 * 2, 64)),
        ("relu3", nn.ReLU()),
        ("fc4", nn.Linear(64, n_classes)),
    ]))


def tones_cnn(n_classes: int = 6) -> nn.Sequential:
    """A small convnet for log-mel spectrograms [1, 64, 63] (frequency x time; the
    ``tones`` dataset): four 3x3 convs with batch norm, global average pooling.

    Example:
        >>> import torch
        >>> tones_cnn(6)(torch.zeros(2, 1, 64, 63)).shape
        torch.Size([2, 6])
    """
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(1, 16, 3, padding=1)),  # 64x63
        ("bn1", nn.BatchNorm2d(16)),
        ("relu1", nn.ReLU(inplace=True)),
        ("pool1", nn.MaxPool2d(2)),  # 32x31
        ("conv2", nn.Conv2d(16, 32, 3, padding=1)),
        ("bn2", nn.BatchNorm2d(32)),
        ("relu2", nn.ReLU(inplace=True)),
        ("pool2", nn.MaxPool2d(2)),  # 16x15
        ("conv3", nn.Conv2d(32, 64, 3, padding=1)),
        ("bn3", nn.BatchNorm2d(64)),
        ("relu3", nn.ReLU(inplace=True)),
        ("pool3", nn.MaxPool2d(2)),  # 8x7
        ("conv4", nn.Conv2d(64, 64, 3, padding=1)),
        ("bn4", nn.BatchNorm2d(64)),
        ("relu4", nn.ReLU(inplace=True)),
        ("pool4", nn.AdaptiveAvgPool2d(1)),
        ("flatten", nn.Flatten()),
        ("fc5", nn.Linear(64, n_classes)),
    ]))


RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in [
        Recipe(
            name="shapes-cnn", dataset="shapes", builder=shapes_cnn, n_classes=7,
            epochs=8, batch_size=128, optimizer="adam", lr=3e-3, weight_decay=1e-4,
            schedule="onecycle", dihedral=True,
            description="AlexNet-like convnet on shapes: the class of the largest shape",
        ),
        Recipe(
            name="digits-mlp", dataset="digits", builder=digits_mlp, n_classes=10,
            epochs=40, batch_size=32, optimizer="adam", lr=1e-3, schedule="cosine",
            description="64-100-50-10 perceptron on scikit-learn's 8x8 digits",
        ),
        Recipe(
            name="digits-cnn", dataset="digits", builder=digits_cnn, n_classes=10,
            epochs=40, batch_size=32, optimizer="adam", lr=2e-3, schedule="cosine",
            description="two-conv convnet on scikit-learn's 8x8 digits",
        ),
        Recipe(
            # version 2: stateful training (the state carries from batch to batch, as in
            # char-rnn) over the whole train split once, without generated tables
            name="pysource-lstm", dataset="pysource", builder=char_lstm, n_classes=98,
            epochs=1, batch_size=32, optimizer="adam", lr=3e-3, schedule="cosine",
            n_train=62_500,  # windows of 128 characters: the whole train split (~7.9M)
            task="charlm", version="2",
            description="character LSTM (256 cells) predicting the next character of the "
                        "Python standard library's source; cells addressable as lstm.c",
        ),
    ]
}

RECIPES["tones-cnn"] = Recipe(
    name="tones-cnn", dataset="tones", builder=tones_cnn, n_classes=6,
    epochs=6, batch_size=64, optimizer="adam", lr=3e-3, weight_decay=1e-4,
    schedule="onecycle", shift=3,
    description="spectrogram convnet on tones (log-mel [1, 64, 63]): sine, harmonic, "
                "vibrato, chord, percussion or silence",
)


def names() -> list[str]:
    """The names of the built-in models: those trained here, then the pretrained ones.

    Example:
        >>> "shapes-cnn" in names(), "efficientnet-lite0" in names()
        (True, True)
    """
    from .pretrained import PRETRAINED

    return [*RECIPES, *PRETRAINED]


def recipe(name: str) -> Recipe:
    """The `Recipe` of a built-in model; an unknown name raises ZooModelNotFoundError.

    Example:
        >>> recipe("shapes-cnn").dataset
        'shapes'
    """
    from .pretrained import PRETRAINED

    if name in PRETRAINED:
        raise ZooModelNotFoundError(f"{name!r} comes with pretrained weights from the package "
                                    f"{PRETRAINED[name].package}: it has no training recipe "
                                    "(zoo.load gives the model)")
    if name not in RECIPES:
        raise ZooModelNotFoundError(f"no built-in model {name!r}.{did_you_mean(name, names())} "
                                    f"Built-in models: {', '.join(names())}")
    return RECIPES[name]
