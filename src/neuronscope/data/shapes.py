"""Generated scenes of colored shapes over textured backgrounds, with concept masks.

Each item is drawn from its own random generator seeded by ``(seed, stream, index)``
(stream 0 = train, 1 = test), so any item can be produced alone, in any process, and
always comes out bit-identical. The drawing itself lives in :mod:`neuronscope.data._scenes`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from neuronscope.core.spec import InputSpec
from neuronscope.data._scenes import COLORS, SHAPES, TEXTURES, Scene, render
from neuronscope.data.base import check_index, check_split, generated_parts, locate

CONCEPTS: list[str] = (
    [f"shape:{s}" for s in SHAPES]
    + [f"color:{c}" for c in COLORS]
    + [f"texture:{t}" for t in TEXTURES]
)
N_TRAIN, N_TEST = 10_000, 2_000


class Shapes(Dataset):
    """64x64 RGB scenes of one to three colored shapes over a textured background.

    The label is the class of the largest shape, which is always at least 1.6x the pixel
    area of any other shape and drawn on top. Classes: ``SHAPES`` (circle, square, triangle,
    star, cross, heart, ring). Items are ``(x float32 [3, size, size] in [0, 1], label)``,
    or with ``masks=True`` dicts ``{"image": x, "label": int, "masks": bool [n_concepts, H, W]}``
    where ``masks[k]`` marks the pixels of ``concepts[k]``: ``"shape:<class>"`` the visible
    pixels of shapes of that class, ``"color:<name>"`` the visible pixels of shapes of that
    color, ``"texture:<name>"`` the background pixels when the background has that texture.

    Splits: "train" (``n`` items, default 10,000), "test" (default 2,000), and "all" =
    train followed by test (with ``n`` given: ``n - n // 6`` train and ``n // 6`` test items).
    Images are generated lazily, on first access, and kept as uint8.

    Example:
        >>> ds = Shapes("test", n=8)
        >>> x, label = ds[3]
        >>> x.shape, x.dtype, ds.classes[label] in SHAPES
        (torch.Size([3, 64, 64]), torch.float32, True)
        >>> ds.scene(3).label == label
        True
    """

    def __init__(
        self,
        split: str = "train",
        n: int | None = None,
        size: int = 64,
        seed: int = 0,
        masks: bool = False,
    ) -> None:
        check_split(split)
        size, seed = int(size), int(seed)
        if size < 16:
            raise ValueError(f"size must be at least 16 pixels, got {size}")
        self._parts = generated_parts(split, n, N_TRAIN, N_TEST, test_share=6)
        self.split, self.size, self.seed, self.masks = split, size, seed, bool(masks)
        self._n = sum(c for _, c in self._parts)
        self.classes: list[str] = list(SHAPES)
        self.concepts: list[str] = list(CONCEPTS)
        self.spec = InputSpec(
            shape=(3, size, size),
            kind="image",
            class_names=list(self.classes),
            extra={"dataset": "shapes", "concepts": list(self.concepts)},
        )
        self._images: np.ndarray | None = None  # uint8 [N, 3, H, W], allocated on first use
        self._labels = np.full(self._n, -1, dtype=np.int64)  # -1: not generated yet

    def __len__(self) -> int:
        return self._n

    def _render(self, i: int) -> tuple[np.ndarray, Scene, list[np.ndarray]]:
        stream, j = locate(self._parts, i)
        rng = np.random.default_rng([self.seed, stream, j])
        return render(rng, self.size)

    def _image(self, i: int) -> np.ndarray:
        if self._labels[i] < 0:
            img, scene, _ = self._render(i)
            self._store(i, img, scene.label)
        assert self._images is not None
        return self._images[i]

    def _store(self, i: int, img: np.ndarray, label: int) -> None:
        if self._images is None:
            self._images = np.empty((self._n, 3, self.size, self.size), dtype=np.uint8)
        self._images[i] = img
        self._labels[i] = label

    def __getitem__(self, i: int) -> Any:
        i = check_index(i, self._n)
        if not self.masks:
            img = self._image(i)
            return _to_float(img), int(self._labels[i])
        img, scene, visible = self._render(i)
        if self._labels[i] < 0:
            self._store(i, img, scene.label)
        return {
            "image": _to_float(img),
            "label": scene.label,
            "masks": torch.from_numpy(self._concept_masks(scene, visible)),
        }

    def scene(self, i: int) -> Scene:
        """The metadata of item i: texture, background colors, and every shape drawn.

        Example:
            >>> s = Shapes("train", n=2).scene(0)
            >>> s.shapes[-1].kind == SHAPES[s.label]  # the largest shape is drawn last
            True
        """
        return self._render(check_index(i, self._n))[1]

    def concept_masks(self, i: int) -> torch.Tensor:
        """Bool tensor [n_concepts, H, W] of item i (regenerated, never stored)."""
        _, scene, visible = self._render(check_index(i, self._n))
        return torch.from_numpy(self._concept_masks(scene, visible))

    def _concept_masks(self, scene: Scene, visible: list[np.ndarray]) -> np.ndarray:
        h = w = self.size
        out = np.zeros((len(self.concepts), h, w), dtype=bool)
        covered = np.zeros((h, w), dtype=bool)
        n_shapes, n_colors = len(SHAPES), len(COLORS)
        color_index = {c: k for k, c in enumerate(COLORS)}
        for info, vis in zip(scene.shapes, visible, strict=True):
            out[SHAPES.index(info.kind)] |= vis
            out[n_shapes + color_index[info.color]] |= vis
            covered |= vis
        out[n_shapes + n_colors + TEXTURES.index(scene.texture)] = ~covered
        return out

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The whole split in memory: (X float32 [N, 3, H, W] in [0, 1], y int64 [N]).

        Example:
            >>> X, y = Shapes("test", n=4).tensors()
            >>> X.shape, y.dtype
            (torch.Size([4, 3, 64, 64]), torch.int64)
        """
        for i in np.flatnonzero(self._labels < 0):
            self._image(int(i))
        if self._images is None:  # empty split
            return torch.zeros((0, 3, self.size, self.size)), torch.zeros(0, dtype=torch.int64)
        return _to_float(self._images), torch.from_numpy(self._labels.copy())

    def __repr__(self) -> str:
        return f"Shapes(split={self.split!r}, n={self._n}, size={self.size}, seed={self.seed})"


def _to_float(arr: np.ndarray) -> torch.Tensor:
    """uint8 array (channel-first) -> float32 tensor in [0, 1] (a copy)."""
    return torch.from_numpy(arr).float().div_(255.0)
