"""A user's folder of images as a dataset (``neuronscope.data.load("folder:PATH")``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from neuronscope.core.spec import InputSpec
from neuronscope.data.base import check_index, check_split, crop_resize
from neuronscope.data.class_folders import class_files, split_files
from neuronscope.data.image_files import (  # noqa: F401 - IMAGE_EXTENSIONS: part of this API
    IMAGE_EXTENSIONS,
    ImageFolderError,
    check_files,
    images_under,
)
from neuronscope.data.normalize import parse_normalization, parse_size
from neuronscope.data.wnids import wnid_labels


class ImageFolder(Dataset):
    """Images from a folder: one class per subfolder, or a flat folder of a single class.

    With subfolders, the classes are the subfolder names (sorted) and the label is the
    subfolder's index; images directly in the top folder are then ignored. A flat folder is
    one class named after the folder. Each image is converted to RGB, center-cropped to a
    square and resized to ``size`` x ``size`` (``size`` may be ``(height, width)``: cropped
    to that aspect ratio). With ``mean`` and ``std`` (one number or one per channel) the
    tensor is normalized, ``(x - mean) / std``, and the spec records it. A file of the split
    that PIL cannot open, or one over PIL's pixel limit, is refused with its name.

    ImageNet-style folders: with ``wnids`` (a model's WordNet ids, index = class, as in its
    ``spec.extra["wnids"]``) subfolders named by WordNet id (``n01440764``) are labelled with
    the model's class index, and ``classes`` are ``class_names`` (the model's, else the
    wnids), so accuracy and selectivity count the model's classes. When some subfolders are
    such ids and others are not, a ``WnidMismatchError`` names the others; when none is, the
    labels are the subfolders' order as without ``wnids``. ``folders`` always holds the
    subfolder names, ``wnids`` the ids used (or None). ``neuronscope.data.load("folder:PATH",
    model=model)`` passes the model's size, normalization and ids.

    Splits: "all" (the default) has every image; "train" and "test" are a fixed 80/20 split
    (within each class, every 5th file in sorted order is a test item).
    Images are read on first access and kept in memory as uint8.

    Example:
        >>> ds = ImageFolder("photos/")  # doctest: +SKIP
        >>> x, label = ds[0]  # doctest: +SKIP
        >>> x.shape, ds.classes[label]  # doctest: +SKIP
        (torch.Size([3, 64, 64]), 'cats')
        >>> val = ImageFolder("val/", size=224, wnids=spec.extra["wnids"])  # doctest: +SKIP
        >>> val.folders[0], val.labels[0]  # doctest: +SKIP
        ('n01440764', tensor(0))
    """

    def __init__(
        self,
        path: str | Path,
        split: str = "all",
        size: int | Sequence[int] = 64,
        mean: float | Sequence[float] | None = None,
        std: float | Sequence[float] | None = None,
        wnids: Sequence[str] | None = None,
        class_names: Sequence[str] | None = None,
    ) -> None:
        check_split(split)
        self.root = Path(path).expanduser()
        if not self.root.exists():
            raise ImageFolderError(f"image folder {str(self.root)!r} does not exist")
        if not self.root.is_dir():
            raise ImageFolderError(f"{str(self.root)!r} is not a folder")
        self.height, self.width = parse_size(size)
        self.size = self.height if self.height == self.width else (self.height, self.width)
        self.mean, self.std = parse_normalization(mean, std)
        per_class = class_files(self.root, images_under, "images")
        if not per_class:
            exts = ", ".join(IMAGE_EXTENSIONS)
            raise ImageFolderError(
                f"no images found in {str(self.root)!r} (looked for {exts}, in class "
                "subfolders or directly in the folder; a folder of .wav files is read for a "
                "model whose InputSpec has kind 'audio')"
            )
        self.folders: list[str] = [name for name, _ in per_class]
        self.classes, numbers = self._classes(wnids, class_names)
        self.files, labels = split_files(per_class, numbers, split)
        check_files(self.files)
        self.split = split
        self.labels = torch.tensor(labels, dtype=torch.int64)
        self.spec = InputSpec(
            shape=(3, self.height, self.width),
            kind="image",
            class_names=list(self.classes),
            mean=self.mean,
            std=self.std,
            extra={"dataset": f"folder:{self.root}",
                   **({"wnids": list(self.wnids)} if self.wnids else {})},
        )
        self._cache: dict[int, np.ndarray] = {}

    def _classes(self, wnids: Sequence[str] | None, class_names: Sequence[str] | None
                 ) -> tuple[list[str], list[int]]:
        """The class names, and the label of each subfolder (the model's class indices when
        the subfolders are its WordNet ids; else their order)."""
        self.wnids = None
        if class_names is not None and wnids is None:
            raise ValueError("class_names name the classes of wnids: give wnids too")
        if wnids is not None:
            if class_names is not None and len(class_names) != len(wnids):
                raise ValueError(f"class_names has {len(class_names)} names for "
                                 f"{len(wnids)} wnids; give one per wnid (index = class)")
            found = wnid_labels(self.folders, wnids, repr(str(self.root)))
            if found is not None:
                self.wnids = list(wnids)
                return list(class_names if class_names is not None else wnids), found
        return list(self.folders), list(range(len(self.folders)))

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
            f"{len(self.folders)} classes{' (WordNet ids)' if self.wnids else ''})"
        )
