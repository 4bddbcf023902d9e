"""Drawing a layer's dataset examples with the input kind that fits the data: used by the
atlas's examples section and by the dataset-examples pages alike."""

from __future__ import annotations

import logging
from typing import Any

from torch import nn

from ..core.data import as_dataset, item_input
from ..core.errors import NeuronscopeError
from ..methods.examples import LayerExamples
from ..methods.examples.show import display_inputs, field_of, spec_of, unit_examples
from ..render.kinds import InputKind, Picture, kind_for

logger = logging.getLogger(__name__)


class ExampleDrawer:
    """Pictures of one layer's examples; ``kind`` is None when no input kind can draw the
    data (then only statistics are shown).

    Example:
        >>> import torch, torch.nn as nn, neuronscope as ns
        >>> model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())
        >>> x = torch.rand(10, 1, 8, 8)
        >>> drawer = ExampleDrawer(model, x, ns.top_examples(model, x, k=3, progress=False)["0"])
        >>> drawer.kind.name, drawer.unit(1).mode
        ('image', 'RGB')
    """

    def __init__(self, model: nn.Module, data: Any, ex: LayerExamples) -> None:
        self.model, self.data, self.ex = model, as_dataset(data), ex
        self.spec = spec_of(model, data)
        self.kind: InputKind | None = kind_for(self.spec, item_input(self.data, 0))
        self.field = None
        if self.kind is not None and self.kind.needs_field and ex.spatial_shape:
            try:
                self.field = field_of(model, ex, self.data)
            except NeuronscopeError as exc:  # whole inputs instead of crops
                logger.info("no receptive field for %s (%s): whole inputs shown", ex.layer, exc)

    def unit(self, unit: int, bottom: bool = False) -> Picture | None:
        """The unit's top (or bottom) examples, or None when the kind is unknown."""
        if self.kind is None:
            return None
        shown = unit_examples(self.model, self.data, self.ex, unit, bottom=bottom,
                              field=self.field, traces=self.kind.needs_traces)
        return self.kind.examples(shown)

    def samples(self, indices: list[int]) -> Picture | None:
        """The inputs at `indices` side by side (None for none or an unknown kind)."""
        if self.kind is None or not indices:
            return None
        return self.kind.samples(display_inputs(self.model, self.data, indices), self.spec)

    def where(self) -> str:
        """What the pictures show, in words."""
        if self.field is not None and not self.field.is_global:
            return (f"the receptive field ({'x'.join(map(str, self.field.size))} px, outlined) "
                    "around each input's maximum")
        return "whole inputs"
