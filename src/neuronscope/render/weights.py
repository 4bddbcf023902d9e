"""Weights as images: conv filters, linear-classifier templates, weight-matrix heatmaps.

Reads parameters only; never runs a model.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from ..core.errors import NeuronscopeError
from ..core.layers import LayerInfo
from ..core.spec import input_spec
from ..core.units import Unit, find_module
from .grid import image_grid, normalize_images, to_uint8
from .kinds import kind_for

logger = logging.getLogger(__name__)

# The lattice between gray weight tiles: a blue no gray level is, so that a filter's
# saturated pixels (white or black) are never taken for the gaps between tiles. Colour
# tiles keep white gaps (a pixel is white only where all three channels saturate).
SEPARATOR = (0.3, 0.5, 0.85)


def _gaps(channels: int) -> float | tuple[float, float, float]:
    return 1.0 if channels == 3 else SEPARATOR


def _weight(weight: torch.Tensor | nn.Parameter) -> torch.Tensor:
    return torch.as_tensor(weight).detach().cpu().float()


def filter_grid(
    weight: torch.Tensor,
    scale: int = 8,
    max_tiles: tuple[int, int] = (64, 16),
    pad: int = 1,
) -> Image.Image:
    """Conv filters ``[out, in, kh, kw]`` as one picture, zero at mid-gray, `pad` pixels
    between tiles (`SEPARATOR` blue between gray tiles, white between colour ones).

    Each filter is scaled by its own max |weight| (symmetric normalization, shared by
    its input channels). ``in == 3``: one RGB tile per filter (first-layer filters of
    an RGB network, as in AlexNet's conv1); ``in == 1``: one gray tile per filter;
    otherwise one gray tile per (out, in) pair, a row per output filter, capped at
    `max_tiles` = (rows, columns). Conv1d weights ``[out, in, k]`` give 1 x k tiles, one
    filter per row.

    Example:
        >>> filter_grid(torch.randn(8, 3, 5, 5), scale=2).size
        (34, 34)
    """
    w = _weight(weight)
    one_d = w.dim() == 3  # Conv1d: each filter a row of k taps, one under the other
    if one_d:
        w = w.unsqueeze(2)
    if w.dim() != 4 or w.numel() == 0:
        raise ValueError(
            f"filter_grid takes conv weights [out, in, kh, kw] (or [out, in, k]), "
            f"got shape {tuple(w.shape)}"
        )
    w = normalize_images(w, "symmetric")
    out, cin, kh, kw = w.shape
    if cin in (1, 3):
        return image_grid(w, nrow=1 if one_d else None, scale=scale, pad=pad, normalize=None,
                          pad_value=_gaps(cin))
    rows, cols = max_tiles
    if out > rows or cin > cols:
        logger.info("filter_grid: showing %d of %d filters x %d of %d input channels",
                    min(out, rows), out, min(cin, cols), cin)
    w = w[:rows, :cols]
    return image_grid(w.reshape(-1, 1, kh, kw), nrow=w.shape[1], scale=scale, pad=pad,
                      normalize=None, pad_value=SEPARATOR)


def _image_shape(input_shape: Sequence[int]) -> tuple[int, int, int]:
    shape = tuple(int(s) for s in input_shape)
    if len(shape) == 2:
        return (1, *shape)
    if len(shape) == 3:
        return shape  # type: ignore[return-value]
    raise ValueError(f"input_shape must be (C, H, W) or (H, W), got {shape}")


def linear_templates(
    weight: torch.Tensor,
    input_shape: Sequence[int],
    class_names: Sequence[str] | None = None,
    scale: int = 8,
    normalize: str | None = "each",
    nrow: int | None = None,
) -> Image.Image:
    """The rows of a linear layer on raw pixels, as images (cs231n "classifier templates").

    ``weight`` is ``[out, C*H*W]``; row o becomes a ``[C, H, W]`` tile (flattened in
    ``torch.flatten`` order), min-max scaled per template by default, gray tiles on a
    lattice of `SEPARATOR` blue. `class_names` label the tiles. All templates go in one
    row when there are at most 16.

    Example:
        >>> linear_templates(torch.randn(10, 3 * 4 * 4), (3, 4, 4), scale=2).size
        (91, 10)
    """
    w = _weight(weight)
    c, h, wd = _image_shape(input_shape)
    if w.dim() != 2:
        raise ValueError(f"linear_templates takes a [out, in] weight, got {tuple(w.shape)}")
    if w.shape[1] != c * h * wd:
        raise ValueError(
            f"the linear layer has in_features={w.shape[1]} but input_shape {(c, h, wd)} has "
            f"{c * h * wd} values: templates only exist for a linear layer that sees the input "
            "directly (flattened pixels), such as a linear classifier or an MLP's first layer"
        )
    if class_names is not None and len(class_names) != w.shape[0]:
        raise ValueError(f"class_names gives {len(class_names)} names for {w.shape[0]} rows")
    if nrow is None and w.shape[0] <= 16:
        nrow = w.shape[0]
    return image_grid(w.reshape(-1, c, h, wd), nrow=nrow, scale=scale, normalize=normalize,
                      labels=list(class_names) if class_names is not None else None,
                      pad_value=_gaps(c))


def weight_heatmap(weight: torch.Tensor, cmap: str = "RdBu_r", scale: int | None = None
                   ) -> Image.Image:
    """A weight matrix ``[rows, cols]`` as an RGB heatmap: zero white, signs in two colours.

    Symmetric scale (max |weight|); each entry becomes a `scale` x `scale` block
    (default: as large as keeps the longer side near 512 pixels, 1 to 16). A 1-d
    weight is one row.

    Example:
        >>> weight_heatmap(torch.randn(4, 6), scale=3).size
        (18, 12)
    """
    from matplotlib import colormaps

    w = _weight(weight)
    if w.dim() == 1:
        w = w.unsqueeze(0)
    if w.dim() != 2 or w.numel() == 0:
        raise ValueError(f"weight_heatmap takes a 2-d weight, got shape {tuple(w.shape)}")
    if scale is None:
        scale = min(16, max(1, 512 // max(w.shape)))
    values = normalize_images(w.unsqueeze(0), "symmetric")[0].numpy()
    rgb = to_uint8(colormaps[cmap](values)[..., :3])
    rgb = np.repeat(np.repeat(rgb, scale, axis=0), scale, axis=1)
    return Image.fromarray(np.ascontiguousarray(rgb), "RGB")


def weight_image(
    module: nn.Module,
    input_shape: Sequence[int] | None = None,
    class_names: Sequence[str] | None = None,
    rows_up: bool = False,
) -> Image.Image:
    """The natural picture of a module's weights.

    Conv -> `filter_grid`; Linear whose in_features equal ``prod(input_shape)`` ->
    `linear_templates` (labelled with `class_names` when there is one row per class,
    as in a linear classifier; unlabelled otherwise, as in an MLP's first layer); any
    other 1-d or 2-d weight (other Linear layers, embeddings) -> `weight_heatmap`.
    `rows_up`: the input's row 0 is drawn at the bottom (a spectrogram), so filters and
    templates are flipped to match.

    Example:
        >>> weight_image(nn.Linear(12, 2), input_shape=(2, 6)).mode
        'RGB'
        >>> weight_image(nn.Linear(5, 3)).size
        (80, 48)
    """
    weight = getattr(module, "weight", None)
    if not isinstance(weight, torch.Tensor):
        raise ValueError(
            f"{type(module).__name__} has no weight tensor to draw; weight_image takes a "
            "Conv or Linear module (e.g. model.conv1 or model.fc)"
        )
    if isinstance(module, nn.modules.conv._ConvNd):
        w = weight.transpose(0, 1) if module.transposed else weight  # [in, out, ...] stored
        return filter_grid(w.flip(-2) if rows_up and w.dim() == 4 else w)
    if isinstance(module, nn.Linear) and input_shape is not None:
        if weight.shape[1] == math.prod(int(s) for s in input_shape):
            names = class_names if class_names and len(class_names) == weight.shape[0] else None
            if rows_up and len(input_shape) >= 2:
                weight = weight.detach().reshape(-1, *input_shape).flip(-2).flatten(1)
            return linear_templates(weight, input_shape, names)
        logger.info("weight_image: in_features %d != prod(input_shape %s): drawing a heatmap",
                    weight.shape[1], tuple(input_shape))
    return weight_heatmap(weight)


def weight_pictures(model: nn.Module, infos: Sequence[LayerInfo]
                    ) -> list[tuple[LayerInfo, str, Image.Image]]:
    """(layer, caption, picture) for the weights worth seeing: the filters of the first
    convolution, the templates of linear layers that see the whole input, and the
    classifier (the last linear layer). Layers whose weights cannot be drawn are left out.

    Example:
        >>> from neuronscope.core.layers import layers
        >>> model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
        >>> [info.name for info, _, _ in weight_pictures(model, layers(model,
        ...                                              torch.zeros(1, 3, 8, 8)))]
        ['0', '2']
    """
    spec = input_spec(model)
    in_channels = spec.shape[0] if spec and len(spec.shape) >= 2 else None
    n_inputs = math.prod(spec.shape) if spec else None
    convs = [i for i in infos if i.kind == "conv"]
    linears = [i for i in infos if i.kind == "linear"]
    chosen: list[tuple[LayerInfo, str]] = []
    if convs:
        chosen.append((convs[0], "filters of the first convolution, as the input sees them"))
    for info in linears:
        module = find_module(model, Unit.parse(info.name).module_path)
        if n_inputs is not None and getattr(module, "in_features", None) == n_inputs:
            chosen.append((info, "rows reshaped to the input image: the templates the layer "
                                 "matches against the input (red/bright: positive weight)"))
    if linears and linears[-1] not in [c[0] for c in chosen]:
        chosen.append((linears[-1], "classifier weights (rows: outputs, columns: inputs)"))
    out, up = [], _rows_up(spec)
    for info, caption in chosen:
        module = find_module(model, Unit.parse(info.name).module_path)
        weight = getattr(module, "weight", None)
        if (info.kind == "conv" and in_channels is not None and weight is not None
                and weight.shape[1] != in_channels):
            caption = "filters (one gray tile per output/input channel pair)"
        try:
            image = weight_image(module, input_shape=spec.shape if spec else None,
                                 class_names=spec.class_names if spec else None,
                                 rows_up=up)
        except (NeuronscopeError, ValueError) as err:
            logger.info("no weight image for %s: %s", info.name, err)
            continue
        out.append((info, caption, image))
    return out


def _rows_up(spec: Any) -> bool:
    """Whether the model's input kind draws row 0 at the bottom (`InputKind.rows_up`)."""
    if spec is None:
        return False
    kind = kind_for(spec, torch.zeros(tuple(spec.shape)))
    return bool(kind is not None and kind.rows_up)
