"""Real photographs bundled with scikit-image and scikit-learn (no download needed)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import torch
from PIL import Image

from neuronscope.core.spec import InputSpec
from neuronscope.data.base import TensorImageDataset, check_split, square_resize, to_chw

log = logging.getLogger(__name__)

# name -> skimage.data function (first element taken when it returns a tuple)
_SKIMAGE = {
    "astronaut": "astronaut",
    "brick": "brick",
    "camera": "camera",
    "cell": "cell",
    "chelsea": "chelsea",
    "clock": "clock",
    "coffee": "coffee",
    "coins": "coins",
    "grass": "grass",
    "gravel": "gravel",
    "hubble_deep_field": "hubble_deep_field",
    "immunohistochemistry": "immunohistochemistry",
    "moon": "moon",
    "motorcycle": "stereo_motorcycle",
    "page": "page",
    "retina": "retina",
    "rocket": "rocket",
    "text": "text",
}
_SKLEARN = ("china", "flower")

PHOTO_NAMES: list[str] = sorted([*_SKIMAGE, *_SKLEARN])


def _load_array(name: str) -> np.ndarray:
    if name in _SKLEARN:
        import importlib.util
        from pathlib import Path

        spec = importlib.util.find_spec("sklearn")  # locate the file without importing sklearn
        if spec is None or not spec.submodule_search_locations:
            raise ImportError("scikit-learn is not installed")
        root = Path(next(iter(spec.submodule_search_locations)))
        with Image.open(root / "datasets" / "images" / f"{name}.jpg") as im:
            return np.asarray(im.convert("RGB"))
    if name not in _SKIMAGE:
        raise KeyError(f"unknown photo {name!r}; available: {', '.join(PHOTO_NAMES)}")
    import skimage.data

    fn: Callable[[], np.ndarray] = getattr(skimage.data, _SKIMAGE[name])
    arr = fn()
    if isinstance(arr, tuple):  # stereo_motorcycle -> (left, right, disparity)
        arr = arr[0]
    return np.asarray(arr)


def _to_pil(arr: np.ndarray) -> Image.Image:
    if arr.dtype != np.uint8:
        arr = (np.clip(arr.astype(np.float64), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    return Image.fromarray(arr[..., :3])


def photo(name: str, size: int = 224) -> torch.Tensor:
    """One bundled photograph as a float32 tensor [3, size, size] in [0, 1].

    Center-cropped to a square and resized with antialiasing; grayscale photos become RGB.

    Example:
        >>> photo("astronaut", size=64).shape
        torch.Size([3, 64, 64])
    """
    if name not in PHOTO_NAMES:
        import difflib

        close = difflib.get_close_matches(name, PHOTO_NAMES, n=3)
        hint = f" did you mean {', '.join(map(repr, close))}?" if close else ""
        raise KeyError(f"unknown photo {name!r};{hint} available: {', '.join(PHOTO_NAMES)}")
    img = square_resize(_to_pil(_load_array(name)), int(size))
    return to_chw(np.asarray(img))


class Photos(TensorImageDataset):
    """The real photographs bundled with scikit-image and scikit-learn, one item per photo.

    Items are ``(x [3, size, size], label)`` with label the photo's index in ``classes``
    (the photo names, sorted). There is no held-out part: the splits "train", "test" and
    "all" all return every photo. A photo that its package cannot provide offline is skipped
    with a logged warning (so ``classes`` lists what actually loaded).

    Example:
        >>> ds = Photos(size=32)
        >>> x, label = ds[0]
        >>> x.shape, ds.classes[label]
        (torch.Size([3, 32, 32]), 'astronaut')
    """

    def __init__(self, split: str = "all", size: int = 224) -> None:
        check_split(split)
        size = int(size)
        if size < 1:
            raise ValueError(f"size must be a positive integer, got {size}")
        names, arrays = [], []
        for name in PHOTO_NAMES:
            try:
                arr = _load_array(name)
            except (ImportError, OSError, ValueError) as err:  # optional-data images
                log.warning("photo %r is not available offline, skipped: %s", name, err)
                continue
            names.append(name)
            arrays.append(np.asarray(square_resize(_to_pil(arr), size)))
        spec = InputSpec(shape=(3, size, size), kind="image", class_names=list(names))
        super().__init__(
            to_chw(np.stack(arrays)), torch.arange(len(names), dtype=torch.int64), names, spec
        )
        self.split = split
        self.size = size
