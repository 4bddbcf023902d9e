"""One pass of a model over concept data, yielding each batch's layer outputs with the
batch (the dissection's thresholds pass and its IoU pass both run on it)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from neuronscope.core.data import batch_input, loader, move, run_model
from neuronscope.core.errors import NeuronscopeError
from neuronscope.core.hooks import tap
from neuronscope.core.model import model_device


def masks_of(batch: Any) -> torch.Tensor:
    """The concept masks of a collated batch: bool [B, concepts, H, W]."""
    if not isinstance(batch, dict) or "masks" not in batch:
        raise NeuronscopeError("concept data give items as dicts with 'image' and 'masks' "
                               "(bool [concepts, H, W]), as ns.datasets.load('shapes', "
                               "masks=True) does; these items have no masks")
    masks = batch["masks"]
    if masks.dim() != 4:
        raise NeuronscopeError(f"masks must be [concepts, H, W] per item, got "
                               f"{tuple(masks.shape[1:])}")
    return masks.bool()


def batches(model: nn.Module, dataset: Any, layers: list[str], batch_size: int,
            progress: bool, what: str) -> Iterator[tuple[dict[str, torch.Tensor], Any]]:
    """(the layers' outputs, the batch) for every batch of `dataset`, in order; the outputs
    are read by the caller before the next batch runs."""
    from tqdm.auto import tqdm

    device = model_device(model)
    seen: dict[str, torch.Tensor] = {}

    def keep(name: str, out: torch.Tensor) -> None:
        seen[name] = out.detach()

    n = len(dataset)
    with tqdm(total=n, desc=what, unit="input", disable=not progress, leave=False,
              mininterval=0.5) as bar, torch.no_grad(), tap(model, layers, keep):
        for batch in loader(dataset, batch_size):
            seen.clear()
            run_model(model, move(batch_input(batch), device))
            yield seen, batch
            bar.update(len(batch_input(batch)))

