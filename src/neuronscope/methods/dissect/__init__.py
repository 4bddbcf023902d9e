"""Network dissection (Bau, Zhou, Khosla, Oliva & Torralba 2017): which human concept each
unit detects. Two passes over concept data: the first finds each unit's threshold (its
top `quantile` over all positions of all inputs, exact: thresholds.py), the second tallies
the intersection over union of each unit's thresholded map, upsampled bilinearly to the
masks, with each concept's mask (iou.py). A unit whose best IoU reaches `iou_threshold`
is a detector of that concept."""

from __future__ import annotations

import math
from typing import Any

from torch import nn

from neuronscope.core.data import as_dataset, batch_input, loader, move
from neuronscope.core.errors import NeuronscopeError
from neuronscope.core.layers import eval_mode, find_layer, layer_table
from neuronscope.core.model import model_device

from .iou import IoUTally
from .result import Dissection
from .stream import batches, masks_of
from .thresholds import TopQuantile

__all__ = ["Dissection", "dissect"]


def dissect(model: nn.Module, concept_data: Any, layers: Any, *, quantile: float = 0.005,
            iou_threshold: float = 0.04, batch_size: int = 64, progress: bool = True
            ) -> Any:
    """Label every unit of `layers` (a name, or a list of names: one `Dissection` or a
    dict of them) with the concept its top activations overlap most.

    `concept_data` gives dicts ``{"image", "masks": bool [concepts, H, W]}`` and names its
    concepts in ``concepts`` (``"category:name"``, e.g. ``"color:red"``), as
    ``ns.datasets.load("shapes", masks=True)`` does. A layer without positions (a linear
    layer) is dissected with each input whole: a unit at or above its threshold marks
    every pixel of that input.

    Example:
        >>> import torch, torch.nn as nn
        >>> from neuronscope.data.shapes import Shapes
        >>> model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU()).eval()
        >>> d = dissect(model, Shapes("test", n=12, masks=True), "1", progress=False)
        >>> len(d.concepts), d.layer
        (4, '1')
    """
    single = isinstance(layers, str)
    names = [layers] if single else list(layers)
    dataset = as_dataset(concept_data)
    concepts = list(getattr(dataset, "concepts", None) or [])
    if len(dataset) == 0:
        raise NeuronscopeError("the concept data are empty")
    raw = next(iter(loader(dataset, 1)))
    n_masks = masks_of(raw).shape[1]
    first = move(batch_input(raw), model_device(model))
    if len(concepts) != n_masks:
        raise NeuronscopeError(f"the concept data name {len(concepts)} concepts (its "
                               f"`concepts`) but give {n_masks} masks per item")
    with eval_mode(model):
        table = layer_table(model, first)
        infos = [find_layer(model, table, name, single_call=True, layer_only=True)
                 for name in names]
        layer_names = [i.name for i in infos]
        tops = {i.name: TopQuantile(i.n_units, len(dataset) * math.prod(i.shape[1:]),
                                    quantile) for i in infos}
        for outs, _ in batches(model, dataset, layer_names, batch_size, progress,
                               "dissection: thresholds"):
            for name, out in outs.items():
                tops[name].add(out)
        tallies = {n: IoUTally(t.thresholds(), len(concepts)) for n, t in tops.items()}
        for outs, batch in batches(model, dataset, layer_names, batch_size, progress,
                                   "dissection: IoU"):
            masks = masks_of(batch).float()  # once for every layer
            for name, out in outs.items():
                tallies[name].add(out, masks)
    found = {n: Dissection(n, concepts, tops[n].thresholds(), t.ious(), quantile,
                           iou_threshold, len(dataset)) for n, t in tallies.items()}
    return found[layer_names[0]] if single else found
