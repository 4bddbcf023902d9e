"""What the dissect section dissects with: the concept data of an atlas, and each
detector's picture (its top inputs with the region where it reaches its threshold
outlined)."""

from __future__ import annotations

from typing import Any

import torch
from PIL import Image

from ..core.data import batch_input, loader, move, run_model
from ..core.model import model_device
from ..core.recording import record
from ..data.colors import PixelColors
from ..data.concepts import OwnMasks, concept_data
from ..render.dissect import outlined

OWN, COLOURS = "the data's own concept masks", "the colours of the data's pixels"
NOT_IMAGES = ("the data are not images (network dissection labels regions of images with "
              "concepts)")


def is_image_model(job: Any) -> bool:
    """Whether the atlas's model takes images (its InputSpec, else its example input)."""
    spec = job.spec
    if spec is not None:
        return spec.kind == "image" and len(spec.shape) == 3
    return isinstance(job.example, torch.Tensor) and job.example.dim() == 4


def choose(job: Any, named: str | None) -> tuple[Any, str]:
    """(concept data, what they are) for an atlas: `named` concept data (what
    `concept_data` takes); else the data's own concepts, when they name them and give masks
    (in their items, or by ``concept_masks``); else the colours of their pixels. Data that
    are not images: (None, why)."""
    if not is_image_model(job):
        return None, NOT_IMAGES
    if named:
        return concept_data(named, job.model), f"the concept data {named!r}"
    data = job.data
    if getattr(data, "concepts", None):
        first = data[0]
        if isinstance(first, dict) and "masks" in first:
            return data, OWN
        if callable(getattr(data, "concept_masks", None)):
            return OwnMasks(data), OWN
    return PixelColors(data, getattr(data, "spec", None) or job.spec), COLOURS


def picture(model: Any, data: Any, layer: str, unit: int, top: list[int], level: float,
            spec: Any) -> Image.Image:
    """The inputs `top` of concept data, the region where the unit reaches `level`
    (``Dissection.levels[u]``) outlined (as the dissection upsamples its map)."""
    x = batch_input(next(iter(loader(data, len(top), top))))
    with torch.no_grad(), record(model, [f"{layer}:{unit}"], to="cpu") as rec:
        run_model(model, move(x, model_device(model)))
    shown = spec.to_display(x) if spec is not None else x
    return outlined(shown, rec[f"{layer}:{unit}"], level)
