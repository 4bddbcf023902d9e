"""A user's folder of images as a dataset (``neuronscope.data.load("folder:PATH")``)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from neuronscope.core.errors import NeuronscopeError
from neuronscope.core.spec import InputSpec
from neuronscope.data.base import check_index, check_split, crop_resize

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")
TEST_EVERY = 5  # within each class, every 5th file (sorted) is a test item: an 80/20 split


class ImageFolderError(NeuronscopeError, ValueError):
    """A folder given as a dataset is missing, not a folder, holds no images, or holds
    files that are not usable images."""


def _is_image(path: Path) -> bool:
    return (
        path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")
    )


def _images_under(folder: Path, recursive: bool) -> list[Path]:
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in found if _is_image(p) and not _hidden(p.relative_to(folder)))


def _hidden(rel: Path) -> bool:
    return any(part.startswith(".") for part in rel.parts)


def _unusable(path: Path) -> str | None:
    """Why `path` cannot be read as an image (its header only is read), or None."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path):
                return None
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        return f"too large: {exc}".split(", could be")[0]
    except UnidentifiedImageError:
        return "not an image that PIL can read"
    except (OSError, ValueError, SyntaxError) as exc:
        return f"not a readable image: {exc}"


def _check_files(files: list[Path]) -> None:
    """Refuse a split holding files that are not images PIL can open, naming them."""
    bad = [(f, why) for f in files if (why := _unusable(f)) is not None]
    if bad:
        listed = "; ".join(f"{str(f)!r} ({why})" for f, why in bad[:3])
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise ImageFolderError(f"{len(bad)} file{'s' * (len(bad) > 1)} of the image folder "
                               f"cannot be used: {listed}{more}. Remove or fix "
                               f"{'them' if len(bad) > 1 else 'it'}")


def _size(size: int | Sequence[int]) -> tuple[int, int]:
    pair = isinstance(size, Sequence) and not isinstance(size, str)
    hw = tuple(int(s) for s in size) if pair else (int(size),) * 2  # type: ignore[arg-type]
    if len(hw) != 2 or min(hw) < 1:
        raise ValueError(f"size must be a positive integer or (height, width), got {size}")
    return hw[0], hw[1]


def _stats(value: float | Sequence[float] | None, name: str) -> tuple[float, ...] | None:
    if value is None:
        return None
    values = (value,) if isinstance(value, int | float) else tuple(value)
    values = tuple(float(v) for v in (values * 3 if len(values) == 1 else values))
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
    square and resized to ``size`` x ``size`` (``size`` may be ``(height, width)``: cropped
    to that aspect ratio). With ``mean`` and ``std`` (one number or one per channel) the
    tensor is normalized, ``(x - mean) / std``, and the spec records it. A file of the split
    that PIL cannot open, or one over PIL's pixel limit, is refused with its name.

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
        size: int | Sequence[int] = 64,
        mean: float | Sequence[float] | None = None,
        std: float | Sequence[float] | None = None,
    ) -> None:
        check_split(split)
        self.root = Path(path).expanduser()
        if not self.root.exists():
            raise ImageFolderError(f"image folder {str(self.root)!r} does not exist")
        if not self.root.is_dir():
            raise ImageFolderError(f"{str(self.root)!r} is not a folder")
        self.height, self.width = _size(size)
        self.size = self.height if self.height == self.width else (self.height, self.width)
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
        _check_files(self.files)
        self.split = split
        self.labels = torch.tensor(labels, dtype=torch.int64)
        self.spec = InputSpec(
            shape=(3, self.height, self.width),
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
            try:
                with Image.open(self.files[i]) as img:
                    img = crop_resize(img.convert("RGB"), self.height, self.width)
            except (OSError, ValueError, SyntaxError) as exc:
                raise ImageFolderError(f"image {str(self.files[i])!r} cannot be decoded: "
                                       f"{exc}. Remove or fix it") from exc
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
        """Every image of the split: (X float32 [N, 3, H, W] in model space, y int64 [N])."""
        if not self.files:
            return torch.zeros((0, 3, self.height, self.width)), self.labels.clone()
        arr = np.stack([self._pixels(i) for i in range(len(self))])
        return self._to_model(arr), self.labels.clone()

    def __repr__(self) -> str:
        return (
            f"ImageFolder({str(self.root)!r}, split={self.split!r}, {len(self)} images, "
            f"{len(self.classes)} classes)"
        )
