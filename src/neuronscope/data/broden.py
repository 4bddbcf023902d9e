"""The Broden dataset of network dissection (Bau et al. 2017), read from its folder as
NetDissect writes it (not downloaded here)::

    index.csv       image,split,ih,iw,sh,sw,<one column per category>: the image (relative to
                    images/), its split, image and segmentation sizes; per category, labels
                    separated by ';': a PNG (relative to images/) whose pixel label is
                    R + 256 * G (color, object, part, material), or a label number for the
                    whole image (scene, texture)
    label.csv       number,name,category,frequency,coverage,syns (category: "object(3);...")
    category.csv    name,first,last,count,frequency
    c_<cat>.csv     code,number,name,frequency,coverage: the labels of one category
    images/...      the images and masks

Label 0 is "nothing", not a concept. Broden names colours "red-c" and scenes "kitchen-s":
the suffix is dropped ("color:red", "scene:kitchen"), as NetDissect's reports drop it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from neuronscope.data.broden_tables import category_labels, read_index, read_table
from neuronscope.data.concept_files import ConceptDataError, ConceptImages, fit_nearest, read_pixels


class Broden(ConceptImages):
    """Broden (or any folder in its layout) as concept data: items ``{"image": x, "masks":
    bool [concepts, sh, sw]}``; ``concepts`` ``"<category>:<name>"``, sorted, one per label
    of each category (a label in two categories is two concepts); ``labels[k]`` the label
    number of concept k.

    Images are read at ``size`` (default: the first row's ih x iw), normalized with ``mean``
    and ``std``; masks at the first row's sh x sw (cropped to the images' aspect ratio).
    ``categories`` keeps some categories (default: every column of index.csv), ``split``
    the rows of one split ("train", "val"; default: all). Rows with no label in the kept
    categories are left out, as in NetDissect.

    Example:
        >>> import tempfile
        >>> from PIL import Image
        >>> root = Path(tempfile.mkdtemp()); (root / "images").mkdir()
        >>> Image.new("RGB", (8, 8), "blue").save(root / "images/a.png")
        >>> Image.new("RGB", (4, 4), (44, 1, 0)).save(root / "images/a_obj.png")  # 44 + 256
        >>> _ = (root / "index.csv").write_text("image,split,ih,iw,sh,sw,object,scene\\n"
        ...                                     "a.png,train,8,8,4,4,a_obj.png,7\\n")
        >>> _ = (root / "label.csv").write_text("number,name,category,frequency,coverage,syns"
        ...     "\\n7,kitchen-s,scene(1),1,1.0,\\n300,dog,object(1),1,1.0,\\n")
        >>> ds = Broden(root)
        >>> ds.concepts, ds.labels, ds[0]["masks"].shape, bool(ds[0]["masks"].all())
        (['object:dog', 'scene:kitchen'], [300, 7], torch.Size([2, 4, 4]), True)
    """

    keep_images = False  # Broden is large: images are read again on each pass

    def __init__(
        self,
        root: str | Path,
        size: int | Sequence[int] | None = None,
        mean: float | Sequence[float] | None = None,
        std: float | Sequence[float] | None = None,
        categories: Sequence[str] | None = None,
        split: str | None = None,
    ) -> None:
        self.root = Path(root).expanduser()
        rows, columns = read_index(self.root)
        names = {int(r["number"]): r["name"] for r in read_table(self.root / "label.csv")}
        if categories is not None:
            unknown = [c for c in categories if c not in columns]
            if unknown:
                raise ConceptDataError(
                    f"no category {', '.join(map(repr, unknown))} in "
                    f"{str(self.root)!r}; its categories: {', '.join(columns)}"
                )
            columns = [c for c in columns if c in categories]
        self.categories = columns
        if split is not None:
            rows = [r for r in rows if r.get("split") == split]
        rows = [r for r in rows if any((r.get(c) or "").strip(";") for c in columns)]
        if not rows:
            raise ConceptDataError(
                f"{str(self.root)!r} has no image with labels of "
                f"{', '.join(columns)}{f' in split {split!r}' * bool(split)}"
            )
        self._rows = rows
        self.files = [self.root / "images" / r["image"] for r in rows]
        self._set_size(
            size or (int(rows[0]["ih"]), int(rows[0]["iw"])), mean, std, f"broden:{self.root}"
        )
        sh, sw = int(rows[0]["sh"]), int(rows[0]["sw"])
        self.mask_size = (
            min(sh, round(sw * self.height / self.width)),
            min(sw, round(sh * self.width / self.height)),
        )
        found = sorted(
            (f"{c}:{name}", c, n)
            for c in columns
            for n, name in category_labels(self.root, c, names).items()
        )
        self.concepts = [f for f, _, _ in found]
        self.labels = [n for _, _, n in found]
        top = max([*names, *self.labels], default=0) + 1
        self._lut = {c: np.full(top, -1, dtype=np.int64) for c in columns}
        for k, (_, c, n) in enumerate(found):
            self._lut[c][n] = k

    def _masks(self, i: int) -> np.ndarray:
        row = self._rows[i]
        out = np.zeros((len(self.concepts), *self.mask_size), dtype=bool)
        for c in self.categories:
            lut = self._lut[c]
            for entry in (e for e in (row.get(c) or "").split(";") if e.strip()):
                if entry.strip().isdigit():  # a label of the whole image
                    n = int(entry)
                    if n < len(lut) and lut[n] >= 0:
                        out[lut[n]] = True
                    continue
                arr = read_pixels(self.root / "images" / entry, "mask").astype(np.int64)
                arr = arr[..., 0] + 256 * arr[..., 1] if arr.ndim == 3 else arr
                label = fit_nearest(arr, *self.mask_size)
                k = np.where(label < len(lut), lut[np.minimum(label, len(lut) - 1)], -1)
                ys, xs = np.nonzero(k >= 0)
                out[k[ys, xs], ys, xs] = True
        return out

    def __repr__(self) -> str:
        return (
            f"Broden({str(self.root)!r}, {len(self)} images, {len(self.concepts)} "
            f"concepts in {', '.join(self.categories)})"
        )
