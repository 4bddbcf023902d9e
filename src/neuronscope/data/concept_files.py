"""Pieces shared by the concept datasets read from files (`ConceptFolder`, `Broden`): their
error, images and label maps read at a fixed size, and a base dataset of ``{"image",
"masks"}`` items."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from neuronscope.core.errors import NeuronscopeError
from neuronscope.core.spec import InputSpec
from neuronscope.data.base import check_index, crop_resize
from neuronscope.data.normalize import parse_normalization, parse_size


class ConceptDataError(NeuronscopeError, ValueError):
    """Concept data (a concept folder, a Broden folder, a ``--concepts`` source) that cannot
    be used: missing files, masks of no image, concepts with no pixel."""


def fit_nearest(arr: np.ndarray, height: int, width: int) -> np.ndarray:
    """`arr` [h, w] center-cropped to the aspect ratio of `height` x `width`, then resized to
    it by nearest neighbour (labels stay labels), as `crop_resize` does to images.

    Example:
        >>> fit_nearest(np.array([[1, 2, 3, 4], [5, 6, 7, 8]]), 2, 2)   # the middle square
        array([[2, 3],
               [6, 7]])
    """
    h, w = arr.shape[:2]
    ch, cw = min(h, round(w * height / width)), min(w, round(h * width / height))
    top, left = (h - ch) // 2, (w - cw) // 2
    rows = top + np.minimum((np.arange(height) + 0.5) * ch / height, ch - 1).astype(int)
    cols = left + np.minimum((np.arange(width) + 0.5) * cw / width, cw - 1).astype(int)
    return arr[rows[:, None], cols[None, :]]


def read_pixels(path: Path, what: str) -> np.ndarray:
    """The pixel values of image file `path` as an array ([H, W] or [H, W, C]); a
    ConceptDataError naming `what` and the file when it cannot be read."""
    try:
        with Image.open(path) as img:
            return np.asarray(img)
    except (OSError, ValueError, SyntaxError) as exc:
        raise ConceptDataError(
            f"{what} {str(path)!r} cannot be read: {exc}. Remove or fix it"
        ) from exc


def read_mask(path: Path, height: int, width: int, image: Path | None = None) -> np.ndarray:
    """Mask file `path` as bool [height, width] (cropped and resized as its image is): a
    pixel is inside when its value is not 0 (in any colour channel; a transparent pixel, in
    an image with alpha, is outside). With `image`, a mask of another size than that
    image's is refused (it would be stretched onto other pixels)."""
    arr = read_pixels(path, "mask")
    if image is not None:
        with Image.open(image) as img:
            w, h = img.size
        if arr.shape[:2] != (h, w):
            raise ConceptDataError(f"mask {path} is {arr.shape[1]}x{arr.shape[0]} pixels but "
                                   f"its image {image.name} is {w}x{h}: a mask has its "
                                   "image's size")
    if arr.ndim == 3 and arr.shape[2] in (2, 4):
        arr = arr[..., :-1].any(2) & (arr[..., -1] > 0)
    elif arr.ndim == 3:
        arr = arr.any(2)
    return fit_nearest(arr != 0, height, width)


def read_rgb(path: Path, height: int, width: int) -> np.ndarray:
    """Image file `path` as uint8 [3, height, width]: RGB, center-cropped, resized."""
    try:
        with Image.open(path) as img:
            img = crop_resize(img.convert("RGB"), height, width)
    except (OSError, ValueError, SyntaxError) as exc:
        raise ConceptDataError(
            f"image {str(path)!r} cannot be read: {exc}. Remove or fix it"
        ) from exc
    return np.asarray(img, dtype=np.uint8).transpose(2, 0, 1).copy()


class ConceptImages(Dataset):
    """Base of the concept datasets: ``files`` (one image each), ``concepts``, and
    ``_masks(i)`` (bool [concepts, mask_size]) given by a subclass; items are ``{"image":
    float [3, H, W] in model space, "masks": bool [concepts, h, w]}``."""

    files: list[Path]
    concepts: list[str]
    mask_size: tuple[int, int]
    keep_images = True  # read each image once and keep it (uint8)

    def _set_size(
        self,
        size: int | Sequence[int],
        mean: float | Sequence[float] | None,
        std: float | Sequence[float] | None,
        dataset: str,
    ) -> None:
        self.height, self.width = parse_size(size)
        self.size = self.height if self.height == self.width else (self.height, self.width)
        self.mean, self.std = parse_normalization(mean, std)
        self.spec = InputSpec(
            shape=(3, self.height, self.width),
            kind="image",
            mean=self.mean,
            std=self.std,
            extra={"dataset": dataset},
        )
        self._cache: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.files)

    def _masks(self, i: int) -> np.ndarray:
        raise NotImplementedError

    def _pixels(self, i: int) -> np.ndarray:
        if i in self._cache:
            return self._cache[i]
        arr = read_rgb(self.files[i], self.height, self.width)
        if self.keep_images:
            self._cache[i] = arr
        return arr

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        i = check_index(i, len(self))
        x = self.spec.to_model(torch.from_numpy(self._pixels(i)).float().div_(255.0)[None])[0]
        return {"image": x, "masks": torch.from_numpy(self._masks(i))}
