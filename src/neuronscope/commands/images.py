"""The `--image` of the stimulus commands (project, dream, invert): an image file or a
bundled photo's name, read as a display-space image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..core.errors import NeuronscopeError, did_you_mean


def read_image(name: str, channels: int = 3, size: tuple[int, int] | None = None,
               max_side: int | None = None) -> torch.Tensor:
    """An image file's path or a bundled photo's name (``astronaut``, ``lfw-face-007``) as
    display-space [channels, H, W] in [0, 1]: centre-cropped and resized to `size` (H, W)
    when given, else at its own size, scaled down to `max_side` on its longer side if
    given. One channel is the mean of the three.

    Example:
        >>> read_image("astronaut", 1, size=(16, 24)).shape
        torch.Size([1, 16, 24])
        >>> read_image("chelsea", max_side=90).shape
        torch.Size([3, 60, 90])
    """
    from PIL import Image, UnidentifiedImageError

    from ..data.base import crop_resize, to_chw
    from ..data.photo_sources import PHOTO_NAMES, group_of, raw

    path = Path(name).expanduser()
    if path.is_file():
        try:
            with Image.open(path) as im:
                img = im.convert("RGB")
        except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
            raise NeuronscopeError(f"--image {name!r} is not an image file PIL can read "
                                   f"({exc}); give a PNG or JPEG, or a photo name") from None
    elif group_of(name) is not None:
        img = Image.fromarray(np.asarray(raw(name))).convert("RGB")
    else:
        raise NeuronscopeError(
            f"--image {name!r} is neither an image file nor a bundled photo."
            f"{did_you_mean(name, list(PHOTO_NAMES))} Photos: {', '.join(PHOTO_NAMES)}, and "
            "lfw-face-000 to -099, lfw-nonface-000 to -099")
    if size is not None:
        img = crop_resize(img, *size)
    elif max_side and max(img.size) > max_side:
        ratio = max_side / max(img.size)
        img = img.resize((max(1, round(img.width * ratio)), max(1, round(img.height * ratio))),
                         Image.Resampling.LANCZOS)
    x = to_chw(np.asarray(img))
    if channels == 3:
        return x
    if channels != 1:
        raise NeuronscopeError(f"--image makes 1- or 3-channel images, not {channels}")
    return x.mean(0, keepdim=True)
