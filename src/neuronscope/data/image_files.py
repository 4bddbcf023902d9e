"""The image files of a folder: which files count as images, and a check that each can be
read, naming the ones that cannot."""

from __future__ import annotations

import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from neuronscope.core.errors import NeuronscopeError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")


class ImageFolderError(NeuronscopeError, ValueError):
    """A folder given as a dataset is missing, not a folder, holds no images, or holds
    files that are not usable images."""


def _is_image(path: Path) -> bool:
    return (
        path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")
    )


def images_under(folder: Path, recursive: bool) -> list[Path]:
    """The image files in `folder` (and its subfolders when `recursive`), sorted; hidden
    files and folders are left out."""
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


def check_files(files: list[Path]) -> None:
    """Refuse a split holding files that are not images PIL can open, naming them."""
    bad = [(f, why) for f in files if (why := _unusable(f)) is not None]
    if bad:
        listed = "; ".join(f"{str(f)!r} ({why})" for f, why in bad[:3])
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise ImageFolderError(f"{len(bad)} file{'s' * (len(bad) > 1)} of the image folder "
                               f"cannot be used: {listed}{more}. Remove or fix "
                               f"{'them' if len(bad) > 1 else 'it'}")
