"""`Dissection`: every unit of a layer against every concept."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from neuronscope.core.result import Result

from .iou import levels

CONFIRMED_Z = 3.0  # a label is confirmed when silencing the unit takes away its
# concept's evidence where the concept is, at three standard errors or more


@dataclass
class Dissection(Result):
    """IoU of each unit with each concept, and what follows from it.

    ``concepts[u]``, ``ious[u]``, ``categories[u]``: unit u's best concept (whatever its
    IoU), that IoU, and its category (the part of the name before ":"); ``detectors``:
    the units whose best IoU reaches `iou_threshold`; ``thresholds[u]``: the activation
    threshold used for unit u; `iou` holds every unit's IoU with every concept.

    After the causal check (``dissect(..., causal=True)``), ``faithfulness[u]`` is the
    share of the network's evidence for unit u's concept that silencing u takes away where
    the concept is (NaN: not checked) and ``causal_z[u]`` its z score; ``confirmed`` lists
    the detectors with z >= 3. `control` names a null baseline ("rotation", "shuffled
    masks"; empty for the real dissection). `threshold_rate` is the share of positions the
    thresholds were taken from (1.0: exact; less: a uniform sample, thresholds.py).
    ``coverage[k]`` is concept k's share of all pixels; ``absent`` names the concepts
    with no pixel in the data: their IoU is 0 and they label no unit. ``top[u]`` indexes
    the inputs of the concept data on which unit u peaks highest (8, best first).
    ``least[u]`` is unit u's smallest value over the data; `tied` lists the units whose
    threshold is that value (dead or nearly dead: on only where they exceed it).

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
    faithfulness: torch.Tensor | None = None
    causal_z: torch.Tensor | None = None
    control: str = ""
    threshold_rate: float = 1.0
    coverage: torch.Tensor | None = None
    top: torch.Tensor | None = None
    least: torch.Tensor | None = None

    @property
    def levels(self) -> torch.Tensor:
        """Per unit the value at or above which a position is on (iou.levels): just under
        the threshold, or, for a unit whose threshold is its smallest value over the data
        (`least`: a dead ReLU, say), just above it."""
        return levels(self.thresholds, self.least)

    @property
    def tied(self) -> list[int]:
        """The units whose threshold is their smallest value over the data (dead or nearly
        dead): their region is where they exceed it, often nowhere."""
        if self.least is None:
            return []
        return [u for u, (t, m) in enumerate(zip(self.thresholds.tolist(), self.least.tolist(),
                                                  strict=True)) if t <= m]

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

    @property
    def absent(self) -> list[str]:
        """The concepts with no pixel in any input (none when coverage is unknown)."""
        if self.coverage is None:
            return []
        return [c for c, v in zip(self.concept_names, self.coverage.tolist(), strict=True)
                if v == 0]

    @property
    def confirmed(self) -> list[int]:
        """The detectors whose label the causal check confirms (z >= 3)."""
        if self.causal_z is None:
            return []
        return [u for u in self.detectors
                if not math.isnan(float(self.causal_z[u])) and self.causal_z[u] >= CONFIRMED_Z]
