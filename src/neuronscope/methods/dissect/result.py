"""`Dissection`: every unit of a layer against every concept."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from neuronscope.core.result import Result


@dataclass
class Dissection(Result):
    """IoU of each unit with each concept, and what follows from it.

    ``concepts[u]``, ``ious[u]``, ``categories[u]``: unit u's best concept (whatever its
    IoU), that IoU, and its category (the part of the name before ":"); ``detectors``:
    the units whose best IoU reaches `iou_threshold`; ``thresholds[u]``: the activation
    threshold used for unit u; `iou` holds every unit's IoU with every concept.

    Example:
        >>> d = Dissection("conv1", ["color:red", "shape:circle"], torch.tensor([1.0, 2.0]),
        ...                torch.tensor([[0.6, 0.1], [0.01, 0.02]]), 0.005, 0.04, 10)
        >>> d.concepts, d.categories, d.detectors, d.runners_up(0)
        (['color:red', 'shape:circle'], ['color', 'shape'], [0], [('shape:circle', 0.1)])
    """

    FORMAT = "neuronscope.dissection"
    layer: str
    concept_names: list[str]
    thresholds: torch.Tensor
    iou: torch.Tensor
    quantile: float
    iou_threshold: float
    n: int

    @property
    def concepts(self) -> list[str]:
        return [self.concept_names[int(k)] for k in self.iou.argmax(1)]

    @property
    def ious(self) -> list[float]:
        return [round(float(v), 6) for v in self.iou.max(1).values]

    @property
    def categories(self) -> list[str]:
        return [c.split(":", 1)[0] if ":" in c else "concept" for c in self.concepts]

    @property
    def detectors(self) -> list[int]:
        return [u for u, v in enumerate(self.iou.max(1).values.tolist())
                if v >= self.iou_threshold]

    def runners_up(self, unit: int, n: int = 3) -> list[tuple[str, float]]:
        """The concepts after unit `unit`'s best, with their IoU, best first."""
        order = self.iou[unit].argsort(descending=True)[1:n + 1]
        return [(self.concept_names[int(k)], round(float(self.iou[unit, k]), 6))
                for k in order]
