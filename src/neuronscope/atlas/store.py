"""The atlas on disk: a versioned JSON manifest, arrays (safetensors), JSON and PNG files.

This module is the only code that knows the atlas's file names. Layout::

    manifest.json                        format, version, model, data, layers, sections done
    model/<section>-<tag>.png            model-wide pictures (weights-conv1.png)
    arrays/<section>-<key>.safetensors   results kept whole (the TopExamples of a pass)
    arrays/data-digests.safetensors      a digest of every data item read (see
                                         core/datacheck.py): later passes check against it
    units/<layer>/<section>.json         per-unit numbers of one section
    units/<layer>/<section>/unit-0017.json  one unit's numbers, computed on demand by the
                                         server before its layer is done (the build merges
                                         them into the layer's file and deletes them)
    units/<layer>/<section>/layer.json   a whole layer computed on demand by the server
                                         (the dataset examples): the manifest entry a build
                                         would write, until a build adopts it
    <section>/<layer>/unit-0017-<tag>.png  per-unit pictures (examples/..-top.png,
                                         featvis/..-pos0.png; .jpg for photographs,
                                         .html for text fragments)
    layers/<layer>/<section>[-<tag>].png per-layer pictures (dream.png, dream-source.png)
    work/<section>-<key>.ckpt            checkpoints of unfinished sections (``.rankR``: one
                                         per process of a shared build)
    work/<section>-<key>.json            the parts done of an unfinished layer (parts.py)

Every file is written atomically (temporary file, then rename) and a section is
marked done in the manifest only after all its files are written, so a build
killed at any point and started again redoes at most the unfinished section and
ends with the same files. The manifest holds no times or paths outside the folder.
When several processes build one atlas, rank 0 alone writes (the others open the
store with ``writer=False``, which refuses every write).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from ..core import store
from ..core.errors import NeuronscopeError
from ..core.files import atomic_write
from ..core.result import Result
from ..render.grid import save_png

FORMAT = "neuronscope.atlas"
VERSION = 1
DIGESTS, DIGESTS_FORMAT = "arrays/data-digests.safetensors", "neuronscope.data_digests"


class AtlasStore:
    """Reads and writes one atlas folder (see the module docstring).

    Example:
        >>> import tempfile
        >>> atlas = AtlasStore(tempfile.mkdtemp())
        >>> atlas.done("conv1", "featvis")
        False
        >>> atlas.mark("conv1", "featvis", {"units": 4})
        >>> atlas.done("conv1", "featvis"), atlas.manifest["layers"]["conv1"]["featvis"]
        (True, {'units': 4})
    """

    def __init__(self, root: str | Path, *, writer: bool = True) -> None:
        self.root, self.writer = Path(root).resolve(), writer
        if writer:
            self.root.mkdir(parents=True, exist_ok=True)
        self.manifest = self._read()

    def _writes(self, what: str) -> None:
        """Refuse a write on a store that only reads (the ranks but 0 of a shared build)."""
        if not self.writer:
            raise NeuronscopeError(f"this process reads the atlas in {self.root} but may not "
                                   f"write it ({what}): only rank 0 writes")

    def _read(self) -> dict[str, Any]:
        path = self.root / "manifest.json"
        if not path.is_file():
            return {"format": FORMAT, "version": VERSION, "model": {}, "data": {},
                    "layers": {}, "sections": {}}
        manifest = json.loads(path.read_text())
        if manifest.get("format") != FORMAT:
            raise NeuronscopeError(f"{path} is not a neuronscope atlas manifest")
        if manifest.get("version") != VERSION:
            raise NeuronscopeError(f"atlas {self.root} has format version "
                                   f"{manifest.get('version')}; this neuronscope reads {VERSION}")
        return manifest

    def save_manifest(self) -> None:
        self._writes("manifest.json")
        text = json.dumps(self.manifest, indent=1, sort_keys=True)
        atomic_write(self.root / "manifest.json", lambda f: f.write(text), "w")

    def set_header(self, model: dict[str, Any], data: dict[str, Any]) -> None:
        """Record what the atlas is of; an atlas of other weights or data is refused (the
        data's ``source``, how to load it again, is not compared: it is kept up to date)."""
        for key, value in (("model", model), ("data", data)):
            old = self.manifest.get(key)
            if old and not _same(_compared(old), _compared(value)):
                raise NeuronscopeError(
                    f"the atlas in {self.root} was built for another {key} ({old}); use "
                    "another --out folder, or delete this one")
        self.manifest["model"], self.manifest["data"] = model, data
        self.save_manifest()

    def clean_temporary(self) -> int:
        """Remove the temporary files an interrupted build left (``.NAME.XXXX.tmp``, see
        `neuronscope.core.files.atomic_path`); returns how many. Only one build may write
        an atlas at a time."""
        self._writes("cleaning")
        stale = [p for p in self.root.rglob(".*.tmp") if p.is_file() and not p.is_symlink()]
        for p in stale:
            p.unlink(missing_ok=True)
        return len(stale)

    def done(self, layer: str, section: str) -> bool:
        return section in self.manifest["layers"].get(layer, {})

    def entry(self, layer: str, section: str) -> dict[str, Any] | None:
        """What the manifest records of `section` for `layer` (done or skipped), or None."""
        return self.manifest["layers"].get(layer, {}).get(section)

    def forget(self, layer: str, section: str) -> None:
        """Drop the record of `section` for `layer` (a skip whose need is met now: it is
        computed again); the manifest is saved when the section marks it anew."""
        self.manifest["layers"].get(layer, {}).pop(section, None)

    def mark(self, layer: str, section: str, info: dict[str, Any]) -> None:
        """Record a finished section (after its files are written) and save the manifest."""
        self.manifest["layers"].setdefault(layer, {})[section] = info
        self.save_manifest()

    def path(self, relative: str) -> Path:
        """An absolute path inside the atlas; anything that would leave it is refused."""
        target = (self.root / relative).resolve()
        if not target.is_relative_to(self.root):
            raise NeuronscopeError(f"{relative!r} is outside the atlas")
        return target

    def write_json(self, relative: str, data: Any) -> str:
        self._writes(relative)
        text = json.dumps(data, indent=None, sort_keys=True, separators=(",", ":"))
        atomic_write(self.path(relative), lambda f: f.write(text), "w")
        return relative

    def read_json(self, relative: str) -> Any:
        return json.loads(self.path(relative).read_text())

    def write_png(self, relative: str, image: Image.Image) -> str:
        self._writes(relative)
        save_png(image, self.path(relative))
        return relative

    def write_bytes(self, relative: str, data: bytes) -> str:
        """Write a file as it is (a sound clip); returns the path written."""
        self._writes(relative)
        atomic_write(self.path(relative), lambda f: f.write(data))
        return relative

    def write_result(self, relative: str, result: Result) -> str:
        self._writes(relative)
        result.save(self.path(relative))
        return relative

    def write_picture(self, relative: str, picture: Image.Image | str,
                      photo: bool = False) -> str:
        """Write a picture: an image as ``relative + ".png"`` (a `photo` as
        ``relative + ".jpg"``), an HTML fragment as ``relative + ".html"``; returns the
        path written."""
        self._writes(relative)
        if isinstance(picture, Image.Image) and photo:
            image = picture.convert("RGB")
            atomic_write(self.path(relative + ".jpg"),
                         lambda f: image.save(f, format="JPEG", quality=90))
            return relative + ".jpg"
        if isinstance(picture, Image.Image):
            return self.write_png(relative + ".png", picture)
        atomic_write(self.path(relative + ".html"), lambda f: f.write(picture), "w")
        return relative + ".html"

    def read_digests(self) -> torch.Tensor | None:
        """The digests of the data items read so far ([n, 8] uint8), or None."""
        path = self.path(DIGESTS)
        if not path.exists():
            return None
        return store.load(path, DIGESTS_FORMAT, 1)[0]["digests"]

    def write_digests(self, digests: torch.Tensor) -> None:
        self._writes(DIGESTS)
        store.save(self.path(DIGESTS), {"digests": digests}, {}, DIGESTS_FORMAT, 1)

    # ------------------------------------------------------------ file names

    @staticmethod
    def unit_name(unit: int, tag: str) -> str:
        """The file name (without extension) of a per-unit picture: ``unit-0017-top``."""
        return f"unit-{unit:04d}-{tag}"

    @classmethod
    def unit_file(cls, section: str, layer: str, unit: int, tag: str, ext: str = "png") -> str:
        """A per-unit picture of a section: ``featvis/conv3/unit-0017-pos0.png``; with
        ``ext=""`` the name without its extension (for `write_picture`)."""
        name = f"{section}/{layer}/{cls.unit_name(unit, tag)}"
        return f"{name}.{ext}" if ext else name

    @staticmethod
    def item_file(section: str, key: str, ext: str) -> str:
        """A file of one dataset item that a section keeps once for every unit that shows
        it (a sound clip): ``examples/items/item-000123.wav``."""
        return f"{section}/items/{key}.{ext}"

    @staticmethod
    def units_json(layer: str, section: str) -> str:
        """The per-unit numbers of one section for one layer."""
        return f"units/{layer}/{section}.json"

    @classmethod
    def unit_json(cls, layer: str, section: str, unit: int) -> str:
        """One unit's numbers of a section, computed on its own (on demand):
        ``units/conv3/featvis/unit-0017.json``."""
        return f"units/{layer}/{section}/unit-{unit:04d}.json"

    def unit_jsons(self, layer: str, section: str) -> dict[int, str]:
        """The units of a layer whose numbers of a section were computed on their own,
        with their files (`unit_json`)."""
        folder = self.path(f"units/{layer}/{section}")
        if not folder.is_dir():
            return {}
        found = {}
        for path in folder.glob("unit-*.json"):
            number = path.stem.removeprefix("unit-")
            if number.isdigit():
                found[int(number)] = self.unit_json(layer, section, int(number))
        return dict(sorted(found.items()))

    @staticmethod
    def layer_json(layer: str, section: str) -> str:
        """What a section computed for a whole layer on demand records (the manifest entry a
        build would write), kept here until a build adopts it into the manifest:
        ``units/conv3/examples/layer.json``."""
        return f"units/{layer}/{section}/layer.json"

    def demanded(self, layer: str, section: str) -> dict[str, Any] | None:
        """The record `layer_json` of a layer computed on demand, or None."""
        try:
            found = self.read_json(self.layer_json(layer, section))
        except (OSError, ValueError):
            return None
        return found if isinstance(found, dict) else None

    @staticmethod
    def picture_name(section: str, tag: str = "") -> str:
        """The file name (without extension) of a section's per-layer or model-wide file:
        ``dream``, ``dream-source``, ``weights-conv1``."""
        return f"{section}-{tag}" if tag else section

    @classmethod
    def layer_file(cls, layer: str, section: str, tag: str = "", ext: str = "png") -> str:
        """A per-layer file of a section: ``layers/conv3/dream.png``."""
        return f"layers/{layer}/{cls.picture_name(section, tag)}.{ext}"

    @classmethod
    def model_file(cls, section: str, tag: str = "", ext: str = "png") -> str:
        """A model-wide file of a section: ``model/weights-conv1.png``."""
        return f"model/{cls.picture_name(section, tag)}.{ext}"

    @staticmethod
    def section_folder(section: str) -> str:
        """A section's own folder, for a report with its figures drawn elsewhere: ``lca``."""
        return section

    @classmethod
    def arrays_file(cls, section: str, key: str) -> str:
        """A result kept whole: ``arrays/examples-1a2b3c4d.safetensors``."""
        return f"arrays/{cls.picture_name(section, key)}.safetensors"

    @classmethod
    def work_file(cls, section: str, key: str, ext: str = "ckpt") -> str:
        """A checkpoint of unfinished work (deleted when the work is done):
        ``work/examples-1a2b3c4d.ckpt``."""
        return f"work/{cls.picture_name(section, key)}.{ext}"


def _compared(header: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in header.items() if k != "source"}


ADDED_LATER = {"spec": ("vocab",)}  # header keys a later version added: in a header of
# an earlier atlas they are missing, not different


def _same(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether header `new` describes what `old` does: equal, but for the `ADDED_LATER`
    keys an earlier atlas's header lacks.

    Example:
        >>> _same({"spec": {"kind": "text"}}, {"spec": {"kind": "text", "vocab": "ab"}})
        True
        >>> _same({"spec": {}}, {"spec": {"kind": "text"}})  # a model without a spec before
        False
    """
    new = dict(new)
    for part, keys in ADDED_LATER.items():
        if isinstance(old.get(part), dict) and isinstance(new.get(part), dict):
            new[part] = {k: v for k, v in new[part].items()
                         if k in old[part] or k not in keys}
    return old == new
