"""A user's own concept masks as concept data for network dissection, in a folder::

    root/images/<stem>.png                        the images (.jpg, .png, ... any that PIL reads)
    root/masks/<category>/<concept>/<stem>.png    where concept "<category>:<concept>" is on
                                                  image <stem>: any non-zero pixel is inside;
                                                  no file: the concept is not on that image
    root/labels.csv                               (optional) lines "<stem>,<category>:<concept>"
                                                  for concepts of a whole image (a scene)

A mask has its image's size (another size is refused by name): it is cropped and resized as
the image is, by nearest neighbour. Use a lossless format (PNG) for masks: JPEG noise is
non-zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from neuronscope.data.concept_files import ConceptDataError, ConceptImages, read_mask
from neuronscope.data.concept_layout import image_files, image_labels, mask_files


class ConceptFolder(ConceptImages):
    """Concept data from a folder of images and masks (the layout above): items ``{"image":
    x, "masks": bool [concepts, H, W]}``, ``concepts`` sorted ``"<category>:<concept>"``.

    Images are read as `~neuronscope.data.folder.ImageFolder` reads them (RGB, center-cropped,
    resized to ``size``, normalized with ``mean`` and ``std``); masks come at the image size.
    A ConceptDataError names a mask of no image, a concept with no pixel on any image (it
    cannot be scored), a mask that cannot be read, and a folder with no images.

    Example:
        >>> import tempfile
        >>> from PIL import Image
        >>> root = Path(tempfile.mkdtemp())
        >>> (root / "images").mkdir(); (root / "masks/color/red").mkdir(parents=True)
        >>> Image.new("RGB", (8, 8), "red").save(root / "images/a.png")
        >>> Image.new("L", (8, 8), 255).save(root / "masks/color/red/a.png")
        >>> ds = ConceptFolder(root, size=4)
        >>> ds.concepts, ds[0]["masks"].shape, bool(ds[0]["masks"].all())
        (['color:red'], torch.Size([1, 4, 4]), True)
    """

    def __init__(
        self,
        root: str | Path,
        size: int | Sequence[int] = 64,
        mean: float | Sequence[float] | None = None,
        std: float | Sequence[float] | None = None,
    ) -> None:
        self.root = Path(root).expanduser()
        self._set_size(size, mean, std, f"concepts:{self.root}")
        self.mask_size = (self.height, self.width)
        self.files, index = image_files(self.root)
        self.mask_files: dict[str, dict[int, Path]] = mask_files(self.root, index)
        self.whole: dict[str, set[int]] = image_labels(self.root, index)
        self.concepts = sorted(set(self.mask_files) | set(self.whole))
        if not self.concepts:
            raise ConceptDataError(
                f"{str(self.root)!r} has no concepts: give masks as masks/<category>/"
                "<concept>/<stem>.png or image labels in labels.csv"
            )
        marked = {  # every mask is read once here, so an unreadable one is named now
            c: [read_mask(f, self.height, self.width, self.files[i]).any()
                for i, f in files.items()]
            for c, files in self.mask_files.items()
        }
        empty = [c for c in self.concepts if not self.whole.get(c) and not any(marked.get(c, []))]
        if empty:
            raise ConceptDataError(
                f"concept{'s' * (len(empty) > 1)} {', '.join(empty)} "
                f"mark{'s' * (len(empty) == 1)} no pixel in any image (at "
                f"{self.height}x{self.width}), so a unit cannot be scored "
                "against it: draw its masks or remove its folder"
            )

    def _masks(self, i: int) -> np.ndarray:
        out = np.zeros((len(self.concepts), self.height, self.width), dtype=bool)
        for k, c in enumerate(self.concepts):
            if i in self.whole.get(c, ()):
                out[k] = True
            elif i in self.mask_files.get(c, {}):
                out[k] = read_mask(self.mask_files[c][i], self.height, self.width)
        return out

    def __repr__(self) -> str:
        return (
            f"ConceptFolder({str(self.root)!r}, {len(self)} images, {len(self.concepts)} concepts)"
        )
