"""Pictures of feature visualizations: a labelled grid, and a folder of PNGs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..core.files import atomic_write
from .grid import image_grid, save_png
from .kinds import kind_for


def visualization_grid(vis: Any, scale: int | None = None,
                       pictures: list[Image.Image] | None = None) -> Image.Image:
    """Every image of a `Visualization` in a grid, one row per target (its starts side by
    side), labelled with the target and its final activation; `pictures` (one per image,
    as an input kind drew them) stand for the display images when given.

    Example:
        >>> import torch, torch.nn as nn, neuronscope as ns
        >>> model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
        >>> vis = ns.visualize(model, "0:1", size=8, steps=1, progress=False)
        >>> visualization_grid(vis).mode
        'RGB'
    """
    labels = [f"{name} act={a:.3g}"
              for name, a in zip(vis.labels, vis.activations.tolist(), strict=True)]
    nrow = vis.n_starts if vis.n_starts > 1 else min(len(labels), 8)
    if pictures is not None:
        images = torch.stack([torch.from_numpy(np.array(p.convert("RGB"))).permute(2, 0, 1)
                              for p in pictures]).float() / 255
        return image_grid(images, nrow=nrow, pad=2, scale=1, normalize=None, labels=labels)
    scale = scale if scale is not None else max(1, 128 // vis.display.shape[-1])
    return image_grid(vis.display, nrow=nrow, pad=2, scale=scale, normalize=None, labels=labels)


def _drawn(vis: Any, kind: Any, spec: Any, folder: Path) -> list[Image.Image]:
    """Each image as `kind` draws a synthetic input, its files written beside it."""
    lo, hi = spec.value_range
    pictures = []
    for i, label in enumerate(vis.labels):
        x = lo + vis.display[i] * (hi - lo)  # as the data's values
        pictures.append(kind.stimulus(x, spec))
        for media in kind.stimulus_media(x, spec):
            (folder / f"{i:03d}-{_slug(label)}.{media.suffix}").write_bytes(media.data)
    return pictures


def save_pngs(vis: Any, folder: str | Path, spec: Any = None) -> Path:
    """Write ``grid.png``, one PNG per image, ``summary.json`` and the result itself
    (``visualization.safetensors``, for `Visualization.load`) into `folder`. With the
    model's InputSpec `spec`, inputs that are not images are drawn by their input kind
    (a spectrogram coloured, low bands at the bottom) with its files beside each (a WAV).

    Example:
        >>> import tempfile, torch, torch.nn as nn, neuronscope as ns
        >>> vis = ns.visualize(nn.Sequential(nn.Conv2d(3, 4, 3)), "0:1", size=8, steps=1,
        ...                    progress=False)
        >>> sorted(p.name for p in save_pngs(vis, tempfile.mkdtemp()).iterdir())[:2]
        ['000-0_1.png', 'grid.png']
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    kind = kind_for(spec, vis.display[0]) if spec is not None else None
    drawn = None if kind is None or kind.name == "image" else _drawn(vis, kind, spec, folder)
    save_png(visualization_grid(vis, pictures=drawn), folder / "grid.png")
    files = []
    scale = max(1, 128 // vis.display.shape[-1])  # small inputs drawn large
    for i, label in enumerate(vis.labels):
        name = f"{i:03d}-{_slug(label)}.png"
        save_png(image_grid(vis.display[i:i + 1], nrow=1, pad=0, scale=scale, normalize=None)
                 if drawn is None else drawn[i], folder / name)
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
