"""The causal check of dissection labels: does silencing a unit take away the network's
evidence for its concept where the concept is, and not elsewhere?

For unit u labelled with concept c, on up to `max_inputs` inputs of the concept data
(evenly spaced), with E the network's evidence for c (evidence.py) and ``drop = E(clean)
- E(u silenced)`` per input:

    faithfulness = (mean drop | c present - mean drop | c absent)
                   / (mean E | c present - mean E | c absent)

the share of the network's concept-specific evidence that the unit carries: near 1 for a
unit through which all of it flows, near 0 for a unit the concept does not need
(negative: silencing the unit raises the evidence where the concept is). `causal_z` is
the numerator over its standard error (Welch): a label is *confirmed* when z >= 3. Only
the part of the network above the layer is run again, for many units at once
(`core.split.LayerSplit`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch
from torch import nn

from neuronscope.core.data import batch_input, batch_labels, loader, move, run_model
from neuronscope.core.errors import NeuronscopeError
from neuronscope.core.layers import eval_mode
from neuronscope.core.model import logits_of, model_device
from neuronscope.core.spec import input_spec
from neuronscope.core.split import LayerSplit

from .evidence import contrasts, evidence_weights
from .result import Dissection
from .stream import masks_of


def _silenced(units: list[int], value: float) -> Any:
    def variants(h: torch.Tensor) -> torch.Tensor:
        out = h.repeat(len(units), *([1] * (h.dim() - 1)))
        b = h.shape[0]
        for j, u in enumerate(units):
            out[j * b:(j + 1) * b, u] = value
        return out
    return variants


def _score(drops: torch.Tensor, clean: torch.Tensor, present: torch.Tensor
           ) -> tuple[float, float]:
    """(faithfulness, z) of one unit from per-input drops and clean evidence."""
    if present.sum() < 2 or (~present).sum() < 2:
        return math.nan, math.nan
    lift = clean[present].mean() - clean[~present].mean()
    gap = drops[present].mean() - drops[~present].mean()
    se = (drops[present].var() / present.sum() + drops[~present].var() / (~present).sum())
    z = gap / se.sqrt() if se > 0 else (0.0 if gap == 0 else math.copysign(math.inf, gap))
    return (float(gap / lift) if lift > 0 else math.nan), float(z)


def faithfulness(model: nn.Module, concept_data: Any, dissections: Any, *,
                 units: Any = None, against: dict[int, str] | None = None,
                 value: float = 0.0, max_inputs: int = 512,
                 batch_size: int = 64, chunk: int = 16, progress: bool = True) -> Any:
    """The dissection(s) with `faithfulness` and `causal_z` filled in for `units` (default:
    each layer's detectors; ``"all"``: every unit); other units keep NaN, as do units
    whose concept has no evidence in the network's classes (evidence.py). Each unit is
    scored against its best concept, or against ``against[u]`` (a concept name: to check
    a runner-up, or a unit for a concept it was not labelled with).

    Example:
        >>> import torch.nn as nn
        >>> from neuronscope.data.shapes import Shapes
        >>> from neuronscope.methods.dissect import dissect
        >>> model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        ...                       nn.Flatten(), nn.Linear(4, 7)).eval()
        >>> data = Shapes("test", n=16, masks=True)
        >>> d = faithfulness(model, data, dissect(model, data, "1", progress=False),
        ...                  units="all", progress=False)
        >>> d.faithfulness.shape
        torch.Size([4])
    """
    single = isinstance(dissections, Dissection)
    found = {dissections.layer: dissections} if single else dict(dissections)
    names = next(iter(found.values())).concept_names
    unknown = sorted({c for c in (against or {}).values() if c not in names})
    if unknown:
        raise NeuronscopeError(f"no concept {', '.join(map(repr, unknown))} in these data; "
                               f"the concepts are {', '.join(names)}")
    n = len(concept_data)
    picks = sorted({round(i * (n - 1) / max(1, max_inputs - 1)) for i in range(min(n, max_inputs))})
    checked = {name: (list(range(len(d.thresholds))) if units == "all" else
                      d.detectors if units is None else list(units)) for name, d in found.items()}
    device = model_device(model)
    splits = {name: LayerSplit(model, name) for name in found}
    present, labels, clean = [], [], []
    drops: dict[str, list[torch.Tensor]] = {name: [] for name in found}  # [units, B] each
    from tqdm.auto import tqdm

    with eval_mode(model), torch.no_grad(), tqdm(total=len(picks), desc="dissection: causal",
                                                 disable=not progress, leave=False) as bar:
        for batch in loader(concept_data, batch_size, picks):
            x = move(batch_input(batch), device)
            logits = contrasts(logits_of(run_model(model, x)).float())
            present.append(masks_of(batch).flatten(2).any(2))
            labels.append(_labels(batch, logits))
            clean.append(logits.cpu())
            for name, us in checked.items():
                parts = [contrasts(logits_of(splits[name].run(
                    x, _silenced(us[i:i + chunk], value), len(us[i:i + chunk]))).float())
                    for i in range(0, len(us), chunk)]
                ablated = torch.cat(parts).view(len(us), *logits.shape) if us else None
                drops[name].append((logits - ablated).cpu() if us else torch.empty(0))
            bar.update(len(logits))
    present_t, clean_t = torch.cat(present), torch.cat(clean)
    spec = input_spec(model)
    classes = (spec.class_names if spec else None) or getattr(concept_data, "classes", None)
    first = next(iter(found.values()))
    weights = evidence_weights(first.concept_names, classes, present_t, torch.cat(labels),
                               clean_t.shape[1])
    result = {name: _fill(d, checked[name], drops[name], clean_t, present_t, weights,
                          against or {}) for name, d in found.items()}
    return result[first.layer] if single else result


def _labels(batch: Any, logits: torch.Tensor) -> torch.Tensor:
    try:
        return batch_labels(batch).long().cpu()
    except NeuronscopeError:
        return logits.argmax(1).cpu()


def _fill(d: Dissection, units: list[int], drops: list[torch.Tensor], clean: torch.Tensor,
          present: torch.Tensor, weights: torch.Tensor, against: dict[int, str]
          ) -> Dissection:
    faith = torch.full((len(d.thresholds),), math.nan)
    z = faith.clone()
    if units:
        all_drops = torch.cat(drops, dim=1)                          # [units, N, classes]
        best = d.iou.argmax(1).tolist()
        for j, u in enumerate(units):
            k = d.concept_names.index(against[u]) if u in against else best[u]
            if weights[k].sum() == 0:
                continue  # no class goes with the concept: no evidence to take away
            faith[u], z[u] = _score(all_drops[j] @ weights[k], clean @ weights[k],
                                    present[:, k])
    return dataclasses.replace(d, faithfulness=faith, causal_z=z)
