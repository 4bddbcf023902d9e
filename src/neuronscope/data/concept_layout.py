"""The files of a concept folder (`~neuronscope.data.concept_folder.ConceptFolder`): its
images, its masks (masks/<category>/<concept>/<stem>.png) and its image-level labels
(labels.csv), each checked against the images, with errors that name the file at fault."""

from __future__ import annotations

import csv
from pathlib import Path

from neuronscope.data.concept_files import ConceptDataError
from neuronscope.data.image_files import IMAGE_EXTENSIONS, check_files, images_under


def image_files(root: Path) -> tuple[list[Path], dict[str, int]]:
    """The images of root/images (sorted) and the index of each by stem; a ConceptDataError
    when there are none or two share a stem (an ImageFolderError for unreadable ones).

    Example:
        >>> image_files(Path("no/such/folder"))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        neuronscope.data.concept_files.ConceptDataError: no images in 'no/such/folder/images' ...
    """
    folder = root / "images"
    files = images_under(folder, recursive=False) if folder.is_dir() else []
    if not files:
        exts = ", ".join(IMAGE_EXTENSIONS)
        raise ConceptDataError(f"no images in {str(folder)!r} (looked for {exts})")
    index: dict[str, int] = {}
    for k, f in enumerate(files):
        if index.setdefault(f.stem, k) != k:
            raise ConceptDataError(
                f"two images are named {f.stem!r} in {str(folder)!r}: give each its own name"
            )
    check_files(files)
    return files, index


def _image_of(root: Path, index: dict[str, int], stem: str, where: str) -> int:
    if stem not in index:
        raise ConceptDataError(
            f"{where} names image {stem!r}, which is not in {str(root / 'images')!r}: add "
            "the image or remove it"
        )
    return index[stem]


def mask_files(root: Path, index: dict[str, int]) -> dict[str, dict[int, Path]]:
    """Concept "<category>:<concept>" -> {image index: its mask file}, from
    root/masks/<category>/<concept>/<stem>.png; a mask of no image is a ConceptDataError."""
    found: dict[str, dict[int, Path]] = {}
    masks = root / "masks"
    for cat in sorted(d for d in masks.iterdir() if d.is_dir()) if masks.is_dir() else []:
        for concept in sorted(d for d in cat.iterdir() if d.is_dir()):
            files = images_under(concept, recursive=False)
            if files:
                found[f"{cat.name}:{concept.name}"] = {
                    _image_of(root, index, f.stem, f"mask {str(f)!r}"): f for f in files
                }
    return found


def image_labels(root: Path, index: dict[str, int]) -> dict[str, set[int]]:
    """Concept -> the images it covers whole, from root/labels.csv (lines "<stem>,<category>:
    <concept>"; blank lines, lines starting with "#" and a header "stem,concept" are
    skipped); empty when there is no labels.csv."""
    path = root / "labels.csv"
    if not path.is_file():
        return {}
    found: dict[str, set[int]] = {}
    with open(path, newline="", encoding="utf-8") as f:
        for line, row in enumerate(csv.reader(f), 1):
            row = [v.strip() for v in row]
            if not row or not row[0] or row[0].startswith("#") or row == ["stem", "concept"]:
                continue
            where = f"{str(path)!r} line {line}"
            if len(row) != 2 or row[1].count(":") != 1 or row[1].startswith(":"):
                raise ConceptDataError(
                    f"{where}: expected '<stem>,<category>:<concept>', got {','.join(row)!r}"
                )
            found.setdefault(row[1], set()).add(_image_of(root, index, row[0], where))
    return found
