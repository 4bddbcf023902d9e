"""Pictures of feature visualizations: a labelled grid, and a folder of PNGs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PIL import Image

from ..core.files import atomic_write
from .grid import image_grid, save_png


def visualization_grid(vis: Any, scale: int | None = None) -> Image.Image:
    """Every image of a `Visualization` in a grid, one row per target (its starts side by
    side), labelled with the target and its final activation.

    Example:
        >>> import torch, torch.nn as nn, neuronscope as ns
        >>> model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
        >>> vis = ns.visualize(model, "0:1", size=8, steps=1, progress=False)
        >>> visualization_grid(vis).mode
        'RGB'
    """
    h = vis.display.shape[-1]
    scale = scale if scale is not None else max(1, 128 // h)
    labels = [f"{name} act={a:.3g}"
              for name, a in zip(vis.labels, vis.activations.tolist(), strict=True)]
    nrow = vis.n_starts if vis.n_starts > 1 else min(len(labels), 8)
    return image_grid(vis.display, nrow=nrow, pad=2, scale=scale, normalize=None, labels=labels)


def save_pngs(vis: Any, folder: str | Path) -> Path:
    """Write ``grid.png``, one PNG per image, ``summary.json`` and the result itself
    (``visualization.safetensors``, for `Visualization.load`) into `folder`."""
    folder = Path(folder)
    save_png(visualization_grid(vis), folder / "grid.png")
    files = []
    scale = max(1, 128 // vis.display.shape[-1])  # small inputs drawn large
    for i, label in enumerate(vis.labels):
        name = f"{i:03d}-{_slug(label)}.png"
        save_png(image_grid(vis.display[i:i + 1], nrow=1, pad=0, scale=scale, normalize=None),
                 folder / name)
        files.append(name)
    summary = {"targets": vis.targets, "n_starts": vis.n_starts, "files": files,
               "activations": vis.activations.tolist(),
               "final_loss": vis.losses[-1].tolist() if len(vis.losses) else [],
               "settings": vis.settings}
    atomic_write(folder / "summary.json", lambda f: json.dump(summary, f, indent=2), "w")
    vis.save(folder / "visualization.safetensors")
    return folder


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in text)[:60]
