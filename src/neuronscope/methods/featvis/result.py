"""`Visualization`: the images `visualize` found, their activations and loss curves."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from neuronscope.core.errors import ResultFileError
from neuronscope.core.result import Result


@dataclass
class Visualization(Result):
    """Synthesized stimuli: image ``i`` is start ``i % n_starts`` of ``targets[i // n_starts]``.

    ``images`` [n, C, H, W] are in the model's input space (feed them to the model);
    ``display`` the same in display space, values in [0, 1]; ``activations`` [n] the
    final value of each image's objective (on the untransformed image, penalties
    left out); ``losses`` [steps, n] the loss of every step. `save` writes one file;
    `neuronscope.render.featvis.save_pngs` writes the pictures.

    Example:
        >>> import torch, torch.nn as nn, neuronscope as ns
        >>> model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
        >>> vis = ns.visualize(model, ["0:1", "0:2"], size=16, steps=4, progress=False)
        >>> vis.images.shape, vis.activations.shape
        (torch.Size([2, 3, 16, 16]), torch.Size([2]))
    """

    FORMAT = "neuronscope.visualization"

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

    def show(self, scale: int | None = None):  # noqa: ANN201 - a PIL image
        """Every image in a grid, one row per target, labelled with target and activation."""
        from neuronscope.render.featvis import visualization_grid

        return visualization_grid(self, scale)

    grid = show  # the name of earlier versions

    @classmethod
    def load(cls, path: str | Path) -> Visualization:
        """Read a file written by `save`; a folder written by `save_pngs` (or by `save` of
        earlier versions: ``summary.json`` and ``tensors.safetensors``) works too."""
        folder = Path(path).expanduser()
        if not folder.is_dir():
            return super().load(path)
        if (folder / "visualization.safetensors").is_file():
            return super().load(folder / "visualization.safetensors")
        return _load_folder(folder)

    def _repr_png_(self) -> bytes:
        buf = io.BytesIO()
        self.show().save(buf, format="PNG")
        return buf.getvalue()


def _load_folder(folder: Path) -> Visualization:
    """A folder of the first layout: ``summary.json`` beside ``tensors.safetensors``."""
    import json

    from safetensors.torch import load_file

    summary, tensors = folder / "summary.json", folder / "tensors.safetensors"
    if not (summary.is_file() and tensors.is_file()):
        raise ResultFileError(f"{folder} holds no visualization (no visualization.safetensors, "
                              "nor summary.json with tensors.safetensors)")
    try:
        meta, t = json.loads(summary.read_text()), load_file(str(tensors))
        return Visualization(meta["targets"], meta["n_starts"], t["images"], t["display"],
                             t["activations"], t["losses"], meta.get("settings", {}))
    except Exception as exc:  # noqa: BLE001 - any damage: say which folder
        raise ResultFileError(f"{folder}: an unreadable visualization folder ({exc})") from None
