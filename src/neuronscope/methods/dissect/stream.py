"""One pass of a model over concept data, yielding each batch's layer outputs with the
batch (the dissection's thresholds pass and its IoU pass both run on it)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from neuronscope.core.data import batch_input, loader, map_tensors, move, run_model
from neuronscope.core.errors import NeuronscopeError
from neuronscope.core.hooks import StopPass, tap
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
    if masks.dtype != torch.bool and ((masks != 0) & (masks != 1)).any():
        raise NeuronscopeError(f"masks of {masks.dtype} hold values other than 0 and 1: a "
                               "dissection reads each pixel as in or out of a concept; "
                               "threshold soft masks first (masks > 0.5, say)")
    return masks.bool()


def check_concepts(dataset: Any) -> tuple[list[str], Any]:
    """(the concept names, the first item's input as a batch of one) of concept data, or
    a clear error: empty data, items without masks, a number of masks that is not the
    number of concepts, masks whose shape is not the image's (up to scale)."""
    if len(dataset) == 0:
        raise NeuronscopeError("the concept data are empty")
    concepts = list(getattr(dataset, "concepts", None) or [])
    raw = next(iter(loader(dataset, 1)))
    masks, x = masks_of(raw), batch_input(raw)
    if len(concepts) != masks.shape[1]:
        raise NeuronscopeError(f"the concept data name {len(concepts)} concepts (its "
                               f"`concepts`) but give {masks.shape[1]} masks per item")
    if isinstance(x, torch.Tensor) and x.dim() == 4:
        (h, w), (mh, mw) = x.shape[-2:], masks.shape[-2:]
        if abs(h * mw - w * mh) > max(h, w):  # a mask may be smaller, never another shape
            raise NeuronscopeError(f"masks of {mh}x{mw} do not fit images of {h}x{w}: a "
                                   "mask covers its image, at its size or scaled down")
    return concepts, x


def batches(model: nn.Module, dataset: Any, layers: list[str], batch_size: int,
            progress: bool, what: str, turn: dict[str, torch.Tensor] | None = None,
            ids: list[int] | None = None
            ) -> Iterator[tuple[dict[str, torch.Tensor], Any, int]]:
    """(the layers' outputs, the batch, its number) for the batches numbered `ids` (all by
    default) of `dataset`, in order; each batch's outputs are its own (a caller may read
    them while the next batch runs). A layer in `turn` has its channels mixed by that
    matrix (the rotation control, null.py)."""
    from tqdm.auto import tqdm

    from .null import rotate

    device = model_device(model)
    seen: dict[str, tuple[torch.Tensor, int]] = {}
    copy: set[str] = set()  # layers whose output the model changes after handing it out
    turn = turn or {}
    n = len(dataset)
    ids = list(range(math.ceil(n / batch_size))) if ids is None else ids
    items = [i for b in ids for i in range(b * batch_size, min(n, (b + 1) * batch_size))]

    def keep(name: str, out: torch.Tensor) -> None:
        out = out.detach().clone() if name in copy else out.detach()
        seen[name] = out, out._version
        if len(seen) == len(layers):
            raise StopPass  # every layer is seen: the rest of the pass is not needed

    def run(x: Any) -> dict[str, tuple[torch.Tensor, int]]:
        nonlocal seen
        seen = {}  # a new dict: the last batch's may still be read (core/behind.py)
        try:
            run_model(model, x)
        except StopPass:
            pass
        return seen

    def changed(outs: dict[str, tuple[torch.Tensor, int]]) -> set[str]:
        return {name for name, (t, v) in outs.items() if t._version != v}

    with tqdm(total=len(items), desc=what, unit="input", disable=not progress, leave=False,
              mininterval=0.5) as bar, torch.no_grad(), tap(model, layers, keep):
        for b, batch in zip(ids, _checked(loader(dataset, batch_size, items)), strict=False):
            x = move(batch_input(batch), device)
            if b == ids[0]:  # an output buffer the model reuses would change under a reader:
                one = map_tensors(lambda t: t[:1], x)  # two runs of one input find it
                first = run(one)
                inplace = changed(first)
                second = run(one)
                copy |= inplace | changed(second) | changed(first)  # first: by the second run
            while changed(outs := run(x)):
                copy |= changed(outs)  # changed in place after its layer (an in-place
                # ReLU): run the batch again with those outputs copied
            yield ({name: rotate(t, turn[name]) if name in turn else t
                    for name, (t, _) in outs.items()}, batch, b)
            bar.update(len(batch_input(batch)))


def _checked(batches: Iterator[Any]) -> Iterator[Any]:
    """The batches, with the collate error of items of different sizes made clear."""
    it = iter(batches)
    while True:
        try:
            batch = next(it)
        except StopIteration:
            return
        except RuntimeError as exc:
            if "stack expects" not in str(exc):
                raise
            raise NeuronscopeError(f"the items of the concept data differ in size ({exc}); "
                                   "every image, and every item's masks, must have one "
                                   "size") from exc
        yield batch
