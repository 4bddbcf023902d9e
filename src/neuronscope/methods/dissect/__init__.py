"""Network dissection (Bau, Zhou, Khosla, Oliva & Torralba 2017): which human concept each
unit detects. Two passes over concept data: the first finds each unit's threshold (its
top `quantile` over all positions of all inputs, exact: thresholds.py), the second tallies
the intersection over union of each unit's thresholded map, upsampled bilinearly to the
masks, with each concept's mask (iou.py). A unit whose best IoU reaches `iou_threshold`
is a detector of that concept."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from neuronscope.core.data import as_dataset, move
from neuronscope.core.errors import NeuronscopeError
from neuronscope.core.layers import eval_mode, find_layer, layer_table
from neuronscope.core.model import model_device

from .causal import faithfulness
from .null import CONTROLS, ShuffledMasks, rotation
from .result import Dissection
from .run import Passes
from .stream import check_concepts

__all__ = ["CONTROLS", "Dissection", "dissect", "faithfulness"]
logger = logging.getLogger(__name__)


@torch.inference_mode(False)  # also under a caller's inference_mode: the passes check
# version counters (stream.py) and a worker thread adds to the tallies (run.py)
def dissect(model: nn.Module, concept_data: Any, layers: Any, *, quantile: float = 0.005,
            iou_threshold: float = 0.04, causal: bool = False, control: str | None = None,
            seed: int = 0, batch_size: int = 64, progress: bool = True,
            checkpoint: str | Path | None = None, checkpoint_every: int = 20,
            shared: bool = True) -> Any:
    """Label every unit of `layers` (a name, or a list of names: one `Dissection` or a
    dict of them) with the concept its top activations overlap most.

    `concept_data` gives dicts ``{"image", "masks": bool [concepts, H, W]}`` and names its
    concepts in ``concepts`` (``"category:name"``, e.g. ``"color:red"``), as
    ``ns.datasets.load("shapes", masks=True)`` does. A layer without positions (a linear
    layer) is dissected with each input whole: a unit at or above its threshold marks
    every pixel of that input. ``causal=True`` checks every detector's label by silencing
    it (causal.py); ``control="rotation"`` or ``"shuffled masks"`` runs a null baseline
    (null.py) from `seed` instead of the real dissection. With `checkpoint` (a file) a
    long dissection saves its state every `checkpoint_every` batches and resumes there
    when run again; under ``torchrun`` every rank takes its share of the batches and all
    return the result of one process (run.py), so every rank must call it (``shared=False``:
    this process does the whole dissection alone, the others need not call).

    A layer's output is read as the model hands it on; one that the model changes in place
    later in the pass (an in-place ReLU after a conv) or writes again on the next call (an
    ``out=`` buffer) is found by its version counter and copied. Writes through ``.data``
    bypass that counter and are not seen: dissect such a layer alone (the pass stops
    right after the last dissected layer).

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
    if not names:
        raise ValueError("dissect needs at least one layer, got an empty list")
    if not 0 < iou_threshold <= 1:
        raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
    if control not in (None, *CONTROLS):
        raise ValueError(f"control must be one of {CONTROLS} or None, got {control!r}")
    dataset = as_dataset(concept_data)
    data = ShuffledMasks(dataset, seed) if control == "shuffled masks" else dataset
    concepts, example = check_concepts(dataset)
    with eval_mode(model):
        table = layer_table(model, move(example, model_device(model)))  # one trace
        infos = [find_layer(model, table, name, single_call=True, layer_only=True)
                 for name in names]
        turn = ({i.name: rotation(i.n_units, seed) for i in infos} if control == "rotation"
                else {})
        settings = {"quantile": quantile, "batch_size": batch_size, "seed": seed,
                    "control": control or "", "concepts": concepts, "turn": turn}
        passes = Passes(model, data, infos, settings, checkpoint, checkpoint_every, shared)
        passes.run(progress)
    tops, tallies, shown = passes.tops, passes.tallies, passes.shown
    found = {n: Dissection(n, concepts, tops[n].thresholds(), t.ious(), quantile,
                           iou_threshold, len(dataset), control=control or "",
                           threshold_rate=tops[n].rate, coverage=t.coverage(),
                           top=shown[n].indices, least=tops[n].least)
             for n, t in tallies.items()}
    absent = next(iter(found.values())).absent
    if len(absent) == len(concepts):
        raise NeuronscopeError("no concept has a pixel in the concept data: every mask is "
                               "empty, so no unit can be scored")
    if absent:
        logger.warning("%d concept(s) have no pixel in the concept data and label no unit: "
                       "%s", len(absent), ", ".join(absent[:10]))
    for d in found.values():
        if d.tied:
            logger.warning("%s: %d unit(s) are tied at their smallest value over their top %g "
                           "(dead or nearly dead units, e.g. %s): each is on only where it "
                           "exceeds it", d.layer, len(d.tied), quantile,
                           ", ".join(map(str, d.tied[:5])))
    small = min(t.k for t in tops.values())
    if small < 20:
        logger.warning("each unit's top %g of these data is %d position(s): its label rests "
                       "on very few inputs (dissect more inputs, or a layer with positions)",
                       quantile, small)
    if causal and control == "rotation":
        logger.info("no causal check of the rotation control: its units are mixes of the "
                    "layer's, none of which can be silenced alone")
    elif causal:
        found = faithfulness(model, data, found, progress=progress, batch_size=batch_size)
    return found[infos[0].name] if single else found
