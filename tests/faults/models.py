"""A small image model shared by the fault tests."""

from __future__ import annotations

import torch
from torch import nn

from neuronscope.core.spec import InputSpec, attach_spec


def small_cnn() -> nn.Module:
    """A conv layer, global pooling and a linear head on 3 x 8 x 8 inputs (seeded)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                          nn.Flatten(), nn.Linear(16, 2)).eval()
    return attach_spec(model, InputSpec(shape=(3, 8, 8)))
