"""EfficientNet-Lite0, the architecture, with short stable layer names.

EfficientNet-Lite (Tan & Le 2019, the mobile variant: ReLU6, no squeeze-excitation) is
a stem, 16 inverted-residual blocks in 7 stages, a 1x1 head and a linear classifier.
The model is one ``nn.Sequential``; its addressable layers are

- ``stem``: 3x3 conv (stride 2), batch norm, ReLU6: 32 units, 112x112 at 224 px;
- ``block0`` ... ``block15``: each block's output (after the residual sum where the
  block has one); inside each block ``blockN.expand`` (1x1 conv to 6x the width, batch
  norm, ReLU6; not in block0), ``blockN.depthwise`` (kxk depthwise conv, batch norm,
  ReLU6) and ``blockN.project`` (1x1 conv, batch norm, no activation);
- ``head``: 1x1 conv to 1280 units, batch norm, ReLU6 (7x7);
- ``pool`` (global average), ``flatten``, ``dropout`` and ``fc``: the logits, unit k
  is ImageNet class k.

Inside each of those Sequentials the parts are ``conv``, ``bn`` and ``act``.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

# (repeats, kernel, stride, expansion, output channels) per stage
STAGES = [(1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
          (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320)]


def conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1,
            act: bool = True) -> nn.Sequential:
    """Conv (no bias, padding kernel // 2), batch norm and, when `act`, ReLU6."""
    parts: OrderedDict[str, nn.Module] = OrderedDict([
        ("conv", nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False)),
        ("bn", nn.BatchNorm2d(cout, eps=1e-3, momentum=0.01)),
    ])
    if act:
        parts["act"] = nn.ReLU6()
    return nn.Sequential(parts)


class InvertedResidual(nn.Module):
    """expand (1x1) -> depthwise (kxk) -> project (1x1), plus the input when shapes match.

    Example:
        >>> InvertedResidual(16, 24, 3, 2, 6)(torch.zeros(1, 16, 8, 8)).shape
        torch.Size([1, 24, 4, 4])
    """

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expansion: int) -> None:
        super().__init__()
        mid = cin * expansion
        if expansion != 1:
            self.expand = conv_bn(cin, mid, 1)
        self.depthwise = conv_bn(mid, mid, kernel, stride, groups=mid)
        self.project = conv_bn(mid, cout, 1, act=False)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.expand(x) if hasattr(self, "expand") else x
        y = self.project(self.depthwise(y))
        return x + y if self.residual else y


def efficientnet_lite0(n_classes: int = 1000) -> nn.Sequential:
    """The untrained EfficientNet-Lite0 (4.65 M parameters) for 3x224x224 images.

    Example:
        >>> efficientnet_lite0()(torch.zeros(1, 3, 224, 224)).shape
        torch.Size([1, 1000])
    """
    layers: OrderedDict[str, nn.Module] = OrderedDict(stem=conv_bn(3, 32, 3, 2))
    cin = 32
    for repeats, kernel, stride, expansion, cout in STAGES:
        for r in range(repeats):
            layers[f"block{len(layers) - 1}"] = InvertedResidual(
                cin, cout, kernel, stride if r == 0 else 1, expansion)
            cin = cout
    layers["head"] = conv_bn(cin, 1280, 1)
    layers["pool"] = nn.AdaptiveAvgPool2d(1)
    layers["flatten"] = nn.Flatten()
    layers["dropout"] = nn.Dropout(0.2)
    layers["fc"] = nn.Linear(1280, n_classes)
    return nn.Sequential(layers)


def convert_state_dict(packaged: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The packaged weights (``_conv_stem``, ``_blocks.N._depthwise_conv``, ``_fc``, ...)
    renamed to this layout's names; every key is used exactly once."""
    parts = {"_expand_conv": "expand.conv", "_bn0": "expand.bn",
             "_depthwise_conv": "depthwise.conv", "_bn1": "depthwise.bn",
             "_project_conv": "project.conv", "_bn2": "project.bn"}
    top = {"_conv_stem": "stem.conv", "_bn0": "stem.bn", "_conv_head": "head.conv",
           "_bn1": "head.bn", "_fc": "fc"}
    out = {}
    for key, value in packaged.items():
        name, _, leaf = key.rpartition(".")
        if name.startswith("_blocks."):
            _, n, part = name.split(".")
            out[f"block{n}.{parts[part]}.{leaf}"] = value
        else:
            out[f"{top[name]}.{leaf}"] = value
    return out
