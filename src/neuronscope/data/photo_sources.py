"""Where the bundled photographs come from, read once per process.

Real photographs only: scikit-image's bundled photos (its synthetic images, logo and
silhouette are left out, and so are those it must download: eagle, brain, cells3d, ...),
scikit-learn's two sample images, matplotlib's one sample photograph (its other sample
files are plots' data, a logo, clip art and an MRI slice), and scikit-image's LFW subset:
100 faces and 100 non-face patches from the same photographs, 25x25 grayscale.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np
from PIL import Image

from neuronscope.data.base import crop_resize

GROUPS = ("skimage", "sklearn", "matplotlib", "lfw-face", "lfw-nonface")
LFW_PER_GROUP = 100  # skimage.data.lfw_subset(): the first 100 are faces, the rest are not

# name -> (skimage.data function, its file under the package's folder); the file is read
# directly (importing skimage.io costs more than reading every photo), the function is the
# fallback for a scikit-image that keeps its files elsewhere
_SKIMAGE = {
    "astronaut": ("astronaut", "astronaut.png"), "brick": ("brick", "brick.png"),
    "camera": ("camera", "camera.png"), "cell": ("cell", "cell.png"),
    "chelsea": ("chelsea", "chelsea.png"), "clock": ("clock", "clock_motion.png"),
    "coffee": ("coffee", "coffee.png"), "coins": ("coins", "coins.png"),
    "grass": ("grass", "grass.png"), "gravel": ("gravel", "gravel.png"),
    "hubble_deep_field": ("hubble_deep_field", "hubble_deep_field.jpg"),
    "immunohistochemistry": ("immunohistochemistry", "ihc.png"),
    "microaneurysms": ("microaneurysms", "microaneurysms.png"), "moon": ("moon", "moon.png"),
    "motorcycle": ("stereo_motorcycle", "motorcycle_left.png"),  # the stereo pair's left
    "page": ("page", "page.png"), "retina": ("retina", "retina.jpg"),
    "rocket": ("rocket", "rocket.jpg"), "text": ("text", "text.png"),
}
# name -> (package, file under the package's folder)
_FILES = {
    "china": ("sklearn", "datasets/images/china.jpg"),
    "flower": ("sklearn", "datasets/images/flower.jpg"),
    "grace_hopper": ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
    **{name: ("skimage", f"data/{file}") for name, (_, file) in _SKIMAGE.items()},
}

PHOTO_NAMES: list[str] = sorted(_FILES)
SOURCE: dict[str, str] = {name: package for name, (package, _) in _FILES.items()}


def lfw_names(group: str) -> list[str]:
    """The item names of an LFW group ("lfw-face" or "lfw-nonface"): ``lfw-face-000`` ...

    Example:
        >>> lfw_names("lfw-nonface")[:2]
        ['lfw-nonface-000', 'lfw-nonface-001']
    """
    return [f"{group}-{k:03d}" for k in range(LFW_PER_GROUP)]


def group_of(name: str) -> str | None:
    """The group of an item name, or None for an unknown name.

    Example:
        >>> group_of("china"), group_of("lfw-face-007"), group_of("cat")
        ('sklearn', 'lfw-face', None)
    """
    if name in SOURCE:
        return SOURCE[name]
    group, _, k = name.rpartition("-")
    ok = group in GROUPS[3:] and k.isdigit() and len(k) == 3 and int(k) < LFW_PER_GROUP
    return group if ok else None


def _package_file(package: str, rel: str) -> Path:
    spec = importlib.util.find_spec(package)  # locate the file without importing the package
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"{package} is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / rel


def _uint8(arr: np.ndarray, stack: bool = False) -> np.ndarray:
    """uint8 pixels (0-1 floats scaled), RGBA as RGB; `stack`: a stack of grayscale images."""
    if arr.dtype != np.uint8:
        arr = (np.clip(arr.astype(np.float64), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    arr = np.ascontiguousarray(arr[..., :3] if arr.ndim == 3 and not stack else arr)
    arr.setflags(write=False)  # shared by every caller through the cache
    return arr


@functools.cache
def _named(name: str) -> np.ndarray:
    path = _package_file(*_FILES[name])
    if name in _SKIMAGE and not path.is_file():
        import skimage.data

        arr = getattr(skimage.data, _SKIMAGE[name][0])()
        return _uint8(np.asarray(arr[0] if isinstance(arr, tuple) else arr))  # stereo: left
    with Image.open(path) as im:
        return _uint8(np.asarray(im if im.mode in ("L", "RGB") else im.convert("RGB")))


@functools.cache
def _lfw() -> np.ndarray:
    from skimage.data import lfw_subset

    return _uint8(np.asarray(lfw_subset()), stack=True)


def raw(name: str) -> np.ndarray:
    """An item's pixels as read (uint8 [H, W] or [H, W, 3], read-only), cached per process;
    ImportError or OSError when its package cannot provide it.

    Example:
        >>> raw("chelsea").shape, raw("lfw-face-000").shape
        ((300, 451, 3), (25, 25))
    """
    group = group_of(name)
    if group is None:
        raise KeyError(f"unknown photo {name!r}")
    if group.startswith("lfw-"):
        k = int(name[-3:]) + (LFW_PER_GROUP if group == "lfw-nonface" else 0)
        return _lfw()[k]
    return _named(name)


def fit(arr: np.ndarray, height: int, width: int) -> np.ndarray:
    """Pixels center-cropped to the aspect ratio and resized (antialiased) to height x width,
    as uint8 RGB [height, width, 3]; grayscale becomes three equal channels.

    Example:
        >>> fit(np.zeros((25, 25), np.uint8), 8, 16).shape
        (8, 16, 3)
    """
    out = np.asarray(crop_resize(Image.fromarray(arr), height, width))
    return np.repeat(out[..., None], 3, axis=2) if out.ndim == 2 else out
