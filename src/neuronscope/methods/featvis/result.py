"""`Visualization`: the images `visualize` found, their activations and loss curves."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import torch

from neuronscope.core.result import Result


@dataclass
class Visualization(Result):
    """Synthesized stimuli: image ``i`` is start ``i % n_starts`` of ``targets[i // n_starts]``.

    ``images`` [n, C, H, W] are in the model's input space (feed them to the model);
    ``display`` the same in display space, values in [0, 1]; ``activations`` [n] the
    final value of each image's objective (on the untransformed image, penalties
    left out); ``losses`` [steps, n] the loss of every step. `save` writes one file;
    `neuronscope.render.featvis.save_pngs` writes the pictures.

    Example:
        >>> import torch, torch.nn as nn, neuronscope as ns
        >>> model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
        >>> vis = ns.visualize(model, ["0:1", "0:2"], size=16, steps=4, progress=False)
        >>> vis.images.shape, vis.activations.shape
        (torch.Size([2, 3, 16, 16]), torch.Size([2]))
    """

    FORMAT = "neuronscope.visualization"

    targets: list[str]
    n_starts: int
    images: torch.Tensor
    display: torch.Tensor
    activations: torch.Tensor
    losses: torch.Tensor
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def labels(self) -> list[str]:
        """One label per image: the target, with the start number when there are several."""
        if self.n_starts == 1:
            return list(self.targets)
        return [f"{t} #{s}" for t in self.targets for s in range(self.n_starts)]

    def show(self, scale: int | None = None):  # noqa: ANN201 - a PIL image
        """Every image in a grid, one row per target, labelled with target and activation."""
        from neuronscope.render.featvis import visualization_grid

        return visualization_grid(self, scale)

    grid = show  # the name of earlier versions

    def _repr_png_(self) -> bytes:
        buf = io.BytesIO()
        self.show().save(buf, format="PNG")
        return buf.getvalue()
