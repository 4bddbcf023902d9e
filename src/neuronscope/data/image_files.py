"""The image files of a folder: which files count as images, and a check that each can be
read, naming the ones that cannot."""

from __future__ import annotations

import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from neuronscope.core.errors import NeuronscopeError
from neuronscope.data.class_folders import files_under

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")


class ImageFolderError(NeuronscopeError, ValueError):
    """A folder given as a dataset is missing, not a folder, holds no images, or holds
    files that are not usable images."""


def images_under(folder: Path, recursive: bool) -> list[Path]:
    """The image files in `folder` (and its subfolders when `recursive`), sorted; hidden
    files and folders are left out."""
    return files_under(folder, recursive, IMAGE_EXTENSIONS)


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


def check_files(files: list[Path]) -> None:
    """Refuse a split holding files that are not images PIL can open, naming them."""
    bad = [(f, why) for f in files if (why := _unusable(f)) is not None]
    if bad:
        listed = "; ".join(f"{str(f)!r} ({why})" for f, why in bad[:3])
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise ImageFolderError(f"{len(bad)} file{'s' * (len(bad) > 1)} of the image folder "
                               f"cannot be used: {listed}{more}. Remove or fix "
                               f"{'them' if len(bad) > 1 else 'it'}")
