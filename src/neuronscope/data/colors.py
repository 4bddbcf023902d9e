"""Colour concepts for any image dataset, from its pixels alone: each pixel is named by the
nearest colour of a fixed table, so a folder of photographs can be dissected for colours
with no annotation (Broden's colour category is itself derived from pixels).

The table holds Broden's 11 colour names with one sRGB centroid each, and a pixel takes
the name of the nearest centroid (Euclidean, in 0-255 sRGB). This is a simple fixed rule,
not the learned colour-naming model Broden used (van de Weijer et al. 2009): dark reds
may be called brown, and pale colours white.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import Dataset

from neuronscope.core.data import as_dataset, item_input
from neuronscope.core.spec import InputSpec

COLOR_NAMES: dict[str, tuple[int, int, int]] = {
    "black": (20, 20, 20), "blue": (40, 80, 200), "brown": (130, 80, 40),
    "green": (50, 150, 50), "grey": (128, 128, 128), "orange": (240, 140, 30),
    "pink": (240, 150, 190), "purple": (130, 60, 160), "red": (200, 30, 30),
    "white": (240, 240, 240), "yellow": (235, 220, 50),
}


def color_masks(image: torch.Tensor) -> torch.Tensor:
    """Bool [colours, H, W]: each pixel of a display-space image [3, H, W] (values in
    [0, 1]) marked with its nearest colour name of `COLOR_NAMES`.

    Example:
        >>> img = torch.zeros(3, 1, 2)
        >>> img[0, 0, 1] = 0.8                                  # black, then a red pixel
        >>> names = list(COLOR_NAMES)
        >>> [names[int(k)] for k in color_masks(img).float().argmax(0).flatten()]
        ['black', 'red']
    """
    centroids = torch.tensor(list(COLOR_NAMES.values()), dtype=torch.float32)
    rgb = image.float().clamp(0, 1) * 255
    far = ((rgb.unsqueeze(0) - centroids.view(-1, 3, 1, 1)) ** 2).sum(1)
    nearest = far.argmin(0)
    return nearest.unsqueeze(0) == torch.arange(len(centroids)).view(-1, 1, 1)


class PixelColors(Dataset):
    """`dataset` (any image dataset) as concept data: items ``{"image": x, "masks": bool
    [11, H, W]}``, ``concepts`` = ``color:<name>`` of `COLOR_NAMES`. Pixels are named in
    display space: inputs are un-normalized with `spec` (default: the dataset's own
    ``spec``; none: inputs are taken as [0, 1] images).

    Example:
        >>> colors = PixelColors(torch.ones(2, 3, 4, 4))          # two white images
        >>> colors.concepts[9], bool(colors[0]["masks"][9].all())
        ('color:white', True)
    """

    def __init__(self, dataset: Any, spec: InputSpec | None = None) -> None:
        self.dataset = as_dataset(dataset)
        self.spec = spec if spec is not None else getattr(dataset, "spec", None)
        self.concepts = [f"color:{name}" for name in COLOR_NAMES]

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        x = item_input(self.dataset, i)
        shown = self.spec.to_display(x.unsqueeze(0))[0] if self.spec is not None else x
        return {"image": x, "masks": color_masks(shown)}
