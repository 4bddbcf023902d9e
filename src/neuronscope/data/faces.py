"""Faces and non-faces from scikit-image's LFW subset (25x25 grayscale)."""

from __future__ import annotations

import numpy as np

from neuronscope.data.base import TensorImageDataset, check_split

CLASSES = ["non-face", "face"]


class Faces(TensorImageDataset):
    """``skimage.data.lfw_subset()``: 100 faces and 100 non-faces, shape (1, 25, 25) in [0, 1].

    The first 100 images of the subset are faces (label 1), the other 100 are patches of
    background from the same photos (label 0). A fixed stratified split (seed 0, 20% test):
    160 train and 40 test items, balanced.

    Example:
        >>> ds = Faces("test")
        >>> len(ds), ds.classes
        (40, ['non-face', 'face'])
    """

    def __init__(self, split: str = "train") -> None:
        from skimage.data import lfw_subset

        check_split(split)
        images = np.asarray(lfw_subset(), dtype=np.float32)
        labels = np.zeros(len(images), dtype=np.int64)
        labels[:100] = 1  # the docstring: "100 first images are faces"
        super().__init__(*self.gray_split(images, labels, split, CLASSES))
        self.split = split
