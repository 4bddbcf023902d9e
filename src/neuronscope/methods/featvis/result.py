"""`Visualization`: the images `visualize` found, their activations and loss curves."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from neuronscope.core.files import atomic_path, atomic_write
from neuronscope.render.grid import image_grid, save_png


@dataclass
class Visualization:
    """Synthesized stimuli: image ``i`` is start ``i % n_starts`` of ``targets[i // n_starts]``.

    ``images`` [n, C, H, W] are in the model's input space (feed them to the model);
    ``display`` the same in display space, values in [0, 1]; ``activations`` [n] the
    final value of each image's objective (on the untransformed image, penalties
    left out); ``losses`` [steps, n] the loss of every step.

    Example:
        >>> import torch, torch.nn as nn, neuronscope as ns
        >>> model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
        >>> vis = ns.visualize(model, ["0:1", "0:2"], size=16, steps=4, progress=False)
        >>> vis.images.shape, vis.activations.shape
        (torch.Size([2, 3, 16, 16]), torch.Size([2]))
    """

    targets: list[str]
    n_starts: int
    images: torch.Tensor
    display: torch.Tensor
    activations: torch.Tensor
    losses: torch.Tensor
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def labels(self) -> list[str]:
        """One label per image: the target, with the start number when there are several."""
        if self.n_starts == 1:
            return list(self.targets)
        return [f"{t} #{s}" for t in self.targets for s in range(self.n_starts)]

    def grid(self, scale: int | None = None) -> Image.Image:
        """Every image in a grid, one row per target, labelled with target and activation."""
        h = self.display.shape[-1]
        scale = scale if scale is not None else max(1, 128 // h)
        labels = [f"{name} act={a:.3g}" for name, a in zip(self.labels,
                                                             self.activations.tolist(),
                                                             strict=True)]
        nrow = self.n_starts if self.n_starts > 1 else min(len(labels), 8)
        return image_grid(self.display, nrow=nrow, pad=2, scale=scale, normalize=None,
                          labels=labels)

    def _repr_png_(self) -> bytes:
        buf = io.BytesIO()
        self.grid().save(buf, format="PNG")
        return buf.getvalue()

    def save(self, folder: str | Path) -> Path:
        """Write ``grid.png``, one PNG per image, ``summary.json`` and ``tensors.safetensors``."""
        from safetensors.torch import save_file

        folder = Path(folder)
        save_png(self.grid(), folder / "grid.png")
        files = []
        for i, label in enumerate(self.labels):
            name = f"{i:03d}-{_slug(label)}.png"
            scale = max(1, 128 // self.display.shape[-1])  # small inputs drawn large
            one = image_grid(self.display[i:i + 1], nrow=1, pad=0, scale=scale, normalize=None)
            save_png(one, folder / name)
            files.append(name)
        summary = {"targets": self.targets, "n_starts": self.n_starts, "files": files,
                   "activations": self.activations.tolist(),
                   "final_loss": self.losses[-1].tolist() if len(self.losses) else [],
                   "settings": self.settings}
        atomic_write(folder / "summary.json", lambda f: json.dump(summary, f, indent=2), "w")
        tensors = {"images": self.images, "display": self.display,
                   "activations": self.activations, "losses": self.losses}
        with atomic_path(folder / "tensors.safetensors") as tmp:
            save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp))
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> Visualization:
        """Read a folder written by `save`."""
        from safetensors.torch import load_file

        folder = Path(folder)
        summary = json.loads((folder / "summary.json").read_text())
        t = load_file(str(folder / "tensors.safetensors"))
        return cls(summary["targets"], summary["n_starts"], t["images"], t["display"],
                   t["activations"], t["losses"], summary.get("settings", {}))


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in text)[:60]
