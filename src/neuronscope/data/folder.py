"""A user's folder of images as a dataset (``neuronscope.data.load("folder:PATH")``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from neuronscope.core.errors import NeuronscopeError
from neuronscope.core.spec import InputSpec
from neuronscope.data.base import check_index, check_split, square_resize

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")
TEST_EVERY = 5  # within each class, every 5th file (sorted) is a test item: an 80/20 split


class ImageFolderError(NeuronscopeError, ValueError):
    """A folder given as a dataset is missing, not a folder, or holds no images."""


def _is_image(path: Path) -> bool:
    return (
        path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")
    )


def _images_under(folder: Path, recursive: bool) -> list[Path]:
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in found if _is_image(p) and not _hidden(p.relative_to(folder)))


def _hidden(rel: Path) -> bool:
    return any(part.startswith(".") for part in rel.parts)


def _stats(value: float | Sequence[float] | None, name: str) -> tuple[float, ...] | None:
    if value is None:
        return None
    values = (float(value),) * 3 if isinstance(value, int | float) else tuple(map(float, value))
    if len(values) != 3:
        raise ValueError(f"{name} must be one number or three (one per RGB channel), got {value}")
    if name == "std" and any(v <= 0 for v in values):
        raise ValueError(f"std must be positive, got {value}")
    return values


class ImageFolder(Dataset):
    """Images from a folder: one class per subfolder, or a flat folder of a single class.

    With subfolders, the classes are the subfolder names (sorted) and the label is the
    subfolder's index; images directly in the top folder are then ignored. A flat folder is
    one class named after the folder. Each image is converted to RGB, center-cropped to a
    square and resized to ``size`` x ``size``. With ``mean`` and ``std`` (one number or one
    per channel) the tensor is normalized, ``(x - mean) / std``, and the spec records it.

    Splits: "all" (the default) has every image; "train" and "test" are a fixed 80/20 split
    (within each class, every 5th file in sorted order is a test item).
    Images are read on first access and kept in memory as uint8.

    Example:
        >>> ds = ImageFolder("photos/")  # doctest: +SKIP
        >>> x, label = ds[0]  # doctest: +SKIP
        >>> x.shape, ds.classes[label]  # doctest: +SKIP
        (torch.Size([3, 64, 64]), 'cats')
    """

    def __init__(
        self,
        path: str | Path,
        split: str = "all",
        size: int = 64,
        mean: float | Sequence[float] | None = None,
        std: float | Sequence[float] | None = None,
    ) -> None:
        check_split(split)
        self.root = Path(path).expanduser()
        if not self.root.exists():
            raise ImageFolderError(f"image folder {str(self.root)!r} does not exist")
        if not self.root.is_dir():
            raise ImageFolderError(f"{str(self.root)!r} is not a folder")
        self.size = int(size)
        if self.size < 1:
            raise ValueError(f"size must be a positive integer, got {size}")
        if (mean is None) != (std is None):
            raise ValueError("give both mean and std, or neither")
        self.mean, self.std = _stats(mean, "mean"), _stats(std, "std")
        subdirs = sorted(
            d for d in self.root.iterdir() if d.is_dir() and not d.name.startswith(".")
        )
        per_class = [(d.name, _images_under(d, recursive=True)) for d in subdirs]
        per_class = [(name, files) for name, files in per_class if files]
        if not per_class:
            flat = _images_under(self.root, recursive=False)
            per_class = [(self.root.resolve().name or "images", flat)] if flat else []
        if not per_class:
            exts = ", ".join(IMAGE_EXTENSIONS)
            raise ImageFolderError(
                f"no images found in {str(self.root)!r} (looked for {exts}, in class "
                "subfolders or directly in the folder)"
            )
        self.classes: list[str] = [name for name, _ in per_class]
        self.files: list[Path] = []
        labels = []
        for label, (_, files) in enumerate(per_class):
            for k, f in enumerate(files):
                is_test = k % TEST_EVERY == TEST_EVERY - 1
                if split == "all" or is_test == (split == "test"):
                    self.files.append(f)
                    labels.append(label)
        self.split = split
        self.labels = torch.tensor(labels, dtype=torch.int64)
        self.spec = InputSpec(
            shape=(3, self.size, self.size),
            kind="image",
            class_names=list(self.classes),
            mean=self.mean,
            std=self.std,
            extra={"dataset": f"folder:{self.root}"},
        )
        self._cache: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.files)

    def _pixels(self, i: int) -> np.ndarray:
        if i not in self._cache:
            with Image.open(self.files[i]) as img:
                img = square_resize(img.convert("RGB"), self.size)
                self._cache[i] = np.asarray(img, dtype=np.uint8).transpose(2, 0, 1).copy()
        return self._cache[i]

    def _to_model(self, arr: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(arr).float().div_(255.0)
        if self.mean is None or self.std is None:
            return x
        mean = torch.tensor(self.mean).view(3, 1, 1)
        std = torch.tensor(self.std).view(3, 1, 1)
        return (x - mean) / std

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        i = check_index(i, len(self))
        return self._to_model(self._pixels(i)), int(self.labels[i])

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Every image of the split: (X float32 [N, 3, size, size] in model space, y int64 [N])."""
        if not self.files:
            return torch.zeros((0, 3, self.size, self.size)), self.labels.clone()
        arr = np.stack([self._pixels(i) for i in range(len(self))])
        return self._to_model(arr), self.labels.clone()

    def __repr__(self) -> str:
        return (
            f"ImageFolder({str(self.root)!r}, split={self.split!r}, {len(self)} images, "
            f"{len(self.classes)} classes)"
        )
