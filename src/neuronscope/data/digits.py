"""scikit-learn's handwritten digits (8x8 grayscale) as an image dataset."""

from __future__ import annotations

import numpy as np

from neuronscope.data.base import TensorImageDataset, check_split

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
        super().__init__(*self.gray_split(images, labels, split, CLASSES))
        self.split = split

