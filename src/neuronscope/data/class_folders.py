"""A folder of one's own files as a labelled dataset, for any kind of file (images,
sounds): one class per non-hidden subfolder that holds such files, else the folder alone
as one class; and the fixed 80/20 split within each class (`TEST_EVERY`).

Example:
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> for name in ("b/1.txt", "b/2.txt", "a/1.txt"):
    ...     (root / name).parent.mkdir(exist_ok=True); _ = (root / name).write_text("")
    >>> texts = lambda folder, recursive: files_under(folder, recursive, (".txt",))
    >>> [(name, len(files)) for name, files in class_files(root, texts, "texts")]
    [('a', 1), ('b', 2)]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

TEST_EVERY = 5  # within each class, every 5th file (sorted) is a test item: an 80/20 split

Lister = Callable[[Path, bool], list[Path]]  # (folder, recursive) -> its files, sorted


def files_under(folder: Path, recursive: bool, suffixes: Sequence[str]) -> list[Path]:
    """The files in `folder` (and its subfolders when `recursive`) whose suffix is one of
    `suffixes` (any case), sorted; hidden files and folders are left out."""
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in found if p.is_file() and p.suffix.lower() in suffixes
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def class_files(root: Path, lister: Lister, flat_name: str) -> list[tuple[str, list[Path]]]:
    """(class name, its files) of each non-hidden subfolder of `root` that holds files,
    in sorted order; else the files directly in `root` as one class (named after it, or
    `flat_name`); empty when there are none."""
    subdirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    per_class = [(d.name, lister(d, True)) for d in subdirs]
    per_class = [(name, files) for name, files in per_class if files]
    if not per_class:
        flat = lister(root, False)
        per_class = [(root.resolve().name or flat_name, flat)] if flat else []
    return per_class


def split_files(per_class: list[tuple[str, list[Path]]], numbers: Sequence[int], split: str
                ) -> tuple[list[Path], list[int]]:
    """The files of `split` ("all", "train" or "test": every `TEST_EVERY`-th file of a
    class is a test item) and their labels (class i is `numbers[i]`)."""
    files, labels = [], []
    for label, (_, found) in zip(numbers, per_class, strict=True):
        for k, f in enumerate(found):
            if split == "all" or (k % TEST_EVERY == TEST_EVERY - 1) == (split == "test"):
                files.append(f)
                labels.append(int(label))
    return files, labels
