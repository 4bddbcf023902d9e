"""Pieces shared by the built-in datasets: split names, an in-memory image dataset, resizing."""

from __future__ import annotations

import operator

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from neuronscope.core.spec import InputSpec
from neuronscope.data.normalize import Normalized  # noqa: F401 - its old home

SPLITS = ("train", "test", "all")


def check_split(split: str) -> str:
    """Return `split` if it is one of "train", "test", "all", else raise a ValueError.

    Example:
        >>> check_split("test")
        'test'
    """
    if split not in SPLITS:
        valid = ", ".join(repr(s) for s in SPLITS)
        raise ValueError(f"unknown split {split!r}; valid splits are {valid}")
    return split


def check_index(i: int, n: int) -> int:
    """Normalize an item index (negative counts from the end); IndexError if out of range."""
    i = operator.index(i)
    if i < 0:
        i += n
    if not 0 <= i < n:
        raise IndexError(f"index {i} out of range for a dataset of {n} items (0..{n - 1})")
    return i


def generated_parts(split: str, n: int | None, n_train: int, n_test: int,
                    test_share: int) -> list[tuple[int, int]]:
    """(stream, count) pairs of a generated dataset's split: stream 0 makes training
    items, stream 1 test items, each from its own seeds; `n` items in all (default:
    `n_train` or `n_test`; for ``"all"`` one in `test_share` of `n` are test items).

    Example:
        >>> generated_parts("all", 12, 100, 20, 6), generated_parts("test", None, 100, 20, 6)
        ([(0, 10), (1, 2)], [(1, 20)])
    """
    if split == "all":
        test = n_test if n is None else int(n) // test_share
        parts = [(0, n_train if n is None else int(n) - test), (1, test)]
    else:
        parts = [({"train": 0, "test": 1}[split],
                  (n_train if split == "train" else n_test) if n is None else int(n))]
    if any(c < 0 for _, c in parts):
        raise ValueError(f"n must be non-negative, got {n}")
    return parts


def locate(parts: list[tuple[int, int]], i: int) -> tuple[int, int]:
    """Item `i` of a generated dataset cut into `parts` (from `generated_parts`) ->
    (stream, index within the stream).

    Example:
        >>> locate([(0, 10), (1, 2)], 11)
        (1, 1)
    """
    for stream, count in parts:
        if i < count:
            return stream, i
        i -= count
    raise IndexError(i)


def stratified_split(labels: np.ndarray, test_size: float = 0.2, seed: int = 0) -> np.ndarray:
    """Boolean mask of the test items of a fixed, stratified split.

    Example:
        >>> m = stratified_split(np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1]), 0.2)
        >>> int(m.sum())
        2
    """
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(labels))
    _, test_idx = train_test_split(idx, test_size=test_size, stratify=labels, random_state=seed)
    mask = np.zeros(len(labels), dtype=bool)
    mask[test_idx] = True
    return mask


def split_mask(labels: np.ndarray, split: str, test_size: float = 0.2, seed: int = 0
               ) -> np.ndarray:
    """Boolean mask of the items of `split` ("train", "test" or "all") in a fixed stratified split.

    Example:
        >>> labels = np.array([0] * 5 + [1] * 5)
        >>> int(split_mask(labels, "train").sum()), int(split_mask(labels, "all").sum())
        (8, 10)
    """
    check_split(split)
    if split == "all":
        return np.ones(len(labels), dtype=bool)
    test = stratified_split(labels, test_size=test_size, seed=seed)
    return test if split == "test" else ~test


def square_resize(img: Image.Image, size: int) -> Image.Image:
    """Center-crop `img` to a square, then resize it to `size` x `size` with antialiasing.

    Example:
        >>> square_resize(Image.new("RGB", (40, 20)), 8).size
        (8, 8)
    """
    return crop_resize(img, size, size)


def crop_resize(img: Image.Image, height: int, width: int) -> Image.Image:
    """Center-crop `img` to the aspect ratio of `width` x `height`, then resize it to that.

    Example:
        >>> crop_resize(Image.new("RGB", (40, 40)), 8, 16).size
        (16, 8)
    """
    w, h = img.size
    cw, ch = min(w, round(h * width / height)), min(h, round(w * height / width))
    left, top = (w - cw) // 2, (h - ch) // 2
    img = img.crop((left, top, left + cw, top + ch))
    if (cw, ch) != (width, height):
        img = img.resize((width, height), Image.Resampling.LANCZOS)
    return img


def to_chw(arr: np.ndarray) -> torch.Tensor:
    """uint8 array [H, W, C] (or [N, H, W, C]) -> float32 tensor [C, H, W] (or [N, C, H, W])."""
    t = torch.from_numpy(np.array(arr, dtype=np.uint8, copy=True))
    t = t.permute(2, 0, 1) if t.dim() == 3 else t.permute(0, 3, 1, 2)
    return t.contiguous().float().div_(255.0)


class TensorImageDataset(Dataset):
    """An image dataset held in memory as tensors.

    Items are ``(x, label)``: x a float32 tensor [C, H, W], label a python int.

    Example:
        >>> ds = TensorImageDataset(torch.zeros(4, 1, 8, 8), torch.tensor([0, 1, 0, 1]), ["a", "b"])
        >>> x, y = ds[1]
        >>> x.shape, y
        (torch.Size([1, 8, 8]), 1)
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        classes: list[str],
        spec: InputSpec | None = None,
    ) -> None:
        if images.dim() != 4 or len(images) != len(labels):
            raise ValueError(
                f"images must be [N, C, H, W] with one label each, got {tuple(images.shape)} "
                f"and {len(labels)} labels"
            )
        self.images = images.to(torch.float32).contiguous()
        self.labels = labels.to(torch.int64).contiguous()
        self.classes = list(classes)
        self.spec = spec or InputSpec(
            shape=tuple(images.shape[1:]), kind="image", class_names=self.classes
        )

    @classmethod
    def gray_split(cls, images: np.ndarray, labels: np.ndarray, split: str,
                   classes: list[str]) -> tuple[torch.Tensor, torch.Tensor, list[str], InputSpec]:
        """Constructor arguments for the `split` of grayscale images [N, H, W] in [0, 1]
        (a fixed stratified split), for subclasses built from such arrays."""
        keep = split_mask(labels, split)
        spec = InputSpec(shape=(1, *images.shape[1:]), kind="image", class_names=list(classes))
        return (torch.from_numpy(images[keep]).unsqueeze(1), torch.from_numpy(labels[keep]),
                list(classes), spec)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        i = check_index(i, len(self))
        return self.images[i].clone(), int(self.labels[i])

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The whole split: (X float32 [N, C, H, W], y int64 [N]) (copies)."""
        return self.images.clone(), self.labels.clone()

    def __repr__(self) -> str:
        shape = "x".join(str(s) for s in self.spec.shape)
        return f"{type(self).__name__}({len(self)} items, {shape}, {len(self.classes)} classes)"
