"""A tiny atlas shared by the web tests, and run as a subprocess by the kill test.

    python tests/web/atlas_job.py OUT
"""

from __future__ import annotations

import sys
from collections import OrderedDict

import torch
from torch import nn
from torch.utils.data import TensorDataset

from neuronscope.atlas.build import build_atlas
from neuronscope.core.spec import InputSpec, attach_spec


def tiny_model() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(3, 4, 3, padding=1)), ("relu1", nn.ReLU()),
        ("pool1", nn.MaxPool2d(2)), ("conv2", nn.Conv2d(4, 3, 3, padding=1)),
        ("relu2", nn.ReLU()), ("flatten", nn.Flatten()), ("fc", nn.Linear(3 * 8 * 8, 3)),
    ])).eval()
    return attach_spec(net, InputSpec(shape=(3, 16, 16), class_names=["a", "b", "c"]))


def tiny_data(n: int = 36) -> TensorDataset:
    g = torch.Generator().manual_seed(0)
    return TensorDataset(torch.rand(n, 3, 16, 16, generator=g), torch.arange(n) % 3)


def build(out: str) -> None:
    build_atlas(tiny_model(), tiny_data(), out, name="tiny", data_name="random", k=3, steps=3,
                ablation_n=24, progress=False)


if __name__ == "__main__":
    torch.set_num_threads(1)
    if len(sys.argv) > 3 and sys.argv[2] == "--die-in":  # stop as abruptly as SIGKILL there
        import os

        from neuronscope.atlas.sections import get_section

        name, layer = sys.argv[3].split(":")
        section = get_section(name)
        method = "draw_layer" if name == "examples" else "compute_layer"
        real = getattr(section, method)

        def dying(*args: object, **kwargs: object) -> object:
            if layer in args:  # while this layer's files are being written
                os._exit(9)
            return real(*args, **kwargs)

        setattr(section, method, dying)
    build(sys.argv[1])
