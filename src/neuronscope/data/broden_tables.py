"""The CSV tables of a Broden folder (NetDissect's layout): index.csv, label.csv and
c_<category>.csv, read with errors that say which file is missing or lacks what."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from neuronscope.data.concept_files import ConceptDataError

META = ("image", "split", "ih", "iw", "sh", "sw")  # index.csv: the other columns are categories


def read_table(path: Path) -> list[dict[str, str]]:
    """The rows of CSV file `path` (with a header line) as dicts; a ConceptDataError when the
    file is missing.

    Example:
        >>> read_table(Path("no/such/index.csv"))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        neuronscope.data.concept_files.ConceptDataError: 'no/such/index.csv' is missing: ...
    """
    if not path.is_file():
        raise ConceptDataError(
            f"{str(path)!r} is missing: a Broden folder holds index.csv, label.csv "
            "(category.csv, c_<category>.csv) and images/"
        )
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def read_index(root: Path) -> tuple[list[dict[str, str]], list[str]]:
    """The rows of root/index.csv and its categories (the columns after the meta columns)."""
    rows = read_table(root / "index.csv")
    lacking = [m for m in ("image", "ih", "iw", "sh", "sw") if rows and m not in rows[0]]
    if lacking:
        raise ConceptDataError(
            f"{str(root / 'index.csv')!r} has no column {', '.join(lacking)}: a Broden index "
            f"has columns {','.join(META)},<one per category>"
        )
    return rows, [c for c in (rows[0] if rows else {}) if c not in META]


def category_labels(root: Path, category: str, names: dict[int, str]) -> dict[int, str]:
    """Label number -> concept name for the labels of `category`: those of c_<category>.csv,
    else those that label.csv puts in it ("object(12);part(3)"); label 0 ("nothing") left
    out. Broden's suffixes "-c" (colours) and "-s" (scenes) are dropped unless that would
    give two labels one name.

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> _ = (root / "c_color.csv").write_text("code,number,name,frequency,coverage\\n"
        ...                                       "1,3,red-c,1,0.5\\n")
        >>> category_labels(root, "color", {3: "red-c", 4: "dog"})
        {3: 'red'}
    """
    path = root / f"c_{category}.csv"
    if path.is_file():
        numbers = [int(r["number"]) for r in read_table(path)]
    elif (root / "label.csv").is_file():
        pattern = re.compile(rf"(^|;){re.escape(category)}\(")
        rows = read_table(root / "label.csv")
        numbers = [int(r["number"]) for r in rows if pattern.search(r.get("category") or "")]
    else:
        numbers = []
    found = {n: names.get(n, str(n)) for n in numbers if n != 0}
    short = {n: re.sub(r"-[sc]$", "", name) for n, name in found.items()}
    return short if len(set(short.values())) == len(short) else found
