"""scikit-learn's handwritten digits (8x8 grayscale) as an image dataset."""

from __future__ import annotations

import numpy as np
import torch

from neuronscope.core.spec import InputSpec
from neuronscope.data.base import TensorImageDataset, check_split, split_mask

CLASSES = [str(d) for d in range(10)]


class Digits(TensorImageDataset):
    """scikit-learn's ``load_digits``: 1,797 images of shape (1, 8, 8), values in [0, 1].

    A fixed stratified split (seed 0): 1,437 train and 360 test items; classes "0".."9".

    Example:
        >>> ds = Digits("test")
        >>> len(ds), ds[0][0].shape
        (360, torch.Size([1, 8, 8]))
    """

    def __init__(self, split: str = "train") -> None:
        from sklearn.datasets import load_digits

        check_split(split)
        bunch = load_digits()
        images = np.asarray(bunch.images, dtype=np.float32) / 16.0
        labels = np.asarray(bunch.target, dtype=np.int64)
        keep = split_mask(labels, split)
        spec = InputSpec(shape=(1, 8, 8), kind="image", class_names=list(CLASSES))
        super().__init__(
            torch.from_numpy(images[keep]).unsqueeze(1),
            torch.from_numpy(labels[keep]),
            list(CLASSES),
            spec,
        )
        self.split = split

