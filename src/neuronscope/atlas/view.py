"""`AtlasView`: what sections use to show an atlas on the server's pages.

It reads the atlas (manifest, per-unit JSON, HTML fragments) and writes HTML that
points at its files and pages. The server decides where files and pages live (its
URL patterns, under the path `base` it serves the atlas at) and hands them in, so
sections never spell a URL or a file name.
"""

from __future__ import annotations

import html
from typing import Any

from .store import AtlasStore


class AtlasView:
    """The read side of an atlas for pages.

    Example:
        >>> import tempfile
        >>> view = AtlasView(AtlasStore(tempfile.mkdtemp()))
        >>> view.img("featvis/conv1/unit-0000-pos0.png", "unit 0")
        "<img class='' src='/files/featvis/conv1/unit-0000-pos0.png' alt='unit 0' loading='lazy'>"
        >>> served = AtlasView(view.store, base="/models/tiny", home="/")
        >>> served.unit_url("conv1", 3), served.section_url("gallery"), served.url("/live")
        ('/models/tiny/layer/conv1/unit/3', '/models/tiny/section/gallery', '/models/tiny/live')
    """

    def __init__(self, store: AtlasStore, files: str = "/files/",
                 unit_url: str = "/layer/{layer}/unit/{unit}",
                 layer_url: str = "/layer/{layer}", *, base: str = "",
                 home: str | None = None) -> None:
        """Every URL is under `base` (the path the server serves the atlas at, "" for the
        site's root); `home` is the page that lists every atlas a server serves (None: it
        serves this one alone)."""
        self.store, self.base, self.home = store, base.rstrip("/"), home
        self._files = self.base + files
        self._unit_url, self._layer_url = self.base + unit_url, self.base + layer_url
        self._read: dict[tuple[str, str], Any] = {}  # a view lives for one page: read once
        self._demanded: dict[tuple[str, str], Any] = {}

    @property
    def manifest(self) -> dict[str, Any]:
        return self.store.manifest

    @staticmethod
    def esc(value: object) -> str:
        """HTML-escaped text."""
        return html.escape(str(value))

    def heading(self, section: Any) -> str:
        """A section's heading."""
        return f"<h2>{self.esc(section.title)}</h2>"

    def entry(self, layer: str, section: str) -> dict[str, Any] | None:
        """What the manifest records of a section of a layer, or else what the server
        recorded when it computed the whole layer on demand (None: not computed)."""
        found = self.manifest["layers"].get(layer, {}).get(section)
        if found is not None or layer not in self.manifest["layers"]:
            return found
        if (layer, section) not in self._demanded:
            self._demanded[layer, section] = self.store.demanded(layer, section)
        return self._demanded[layer, section]

    def n_units(self, layer: str) -> int:
        return int(self.manifest["layers"].get(layer, {}).get("facts", {}).get("n_units", 0))

    def units(self, layer: str, section: str) -> dict[str, Any] | None:
        """The per-unit JSON of a section of a layer, or None when it is not there."""
        if (layer, section) not in self._read:
            self._read[layer, section] = self._load_units(layer, section)
        return self._read[layer, section]

    def _load_units(self, layer: str, section: str) -> Any:
        if self.entry(layer, section) is None:
            return None
        try:
            return self.store.read_json(self.store.units_json(layer, section))
        except (OSError, ValueError):
            return None

    def unit_part(self, layer: str, section: str, unit: int) -> dict[str, Any] | None:
        """One unit's numbers of a section computed on demand (`AtlasStore.unit_json`) before
        its layer was done, or None."""
        if self.entry(layer, section) is not None:
            return None  # the layer's file holds them (a part left over is stale)
        try:
            return self.store.read_json(self.store.unit_json(layer, section, unit))
        except (OSError, ValueError):
            return None

    def file_url(self, relative: str) -> str:
        return self._files + relative

    def url(self, path: str) -> str:
        """A URL of the server's own for this atlas (``/live``, ``/static/style.css``)."""
        return self.base + path

    def section_url(self, section: str) -> str:
        """The page a section has of its own (`Section.page_html`)."""
        return self.url(f"/section/{section}")

    def unit_url(self, layer: str, unit: int) -> str:
        return self._unit_url.format(layer=layer, unit=unit)

    def layer_url(self, layer: str) -> str:
        return self._layer_url.format(layer=layer)

    def img(self, relative: str, alt: str, cls: str = "") -> str:
        """An image of the atlas."""
        return (f"<img class='{self.esc(cls)}' src='{self.esc(self.file_url(relative))}' "
                f"alt='{self.esc(alt)}' loading='lazy'>")

    def picture(self, relative: str, alt: str, cls: str = "") -> str:
        """A picture written by `AtlasStore.write_picture`: an image, or its HTML fragment
        inlined (fragments are written by neuronscope's renderers, escaped there)."""
        if relative.endswith(".html"):
            try:
                fragment = self.store.path(relative).read_text()
            except OSError:
                return ""
            return f"<div class='fragment {self.esc(cls)}'>{fragment}</div>"
        return self.img(relative, alt, cls)

    def figure(self, body: str, caption: str) -> str:
        return f"<figure>{body}<figcaption>{self.esc(caption)}</figcaption></figure>"

    def link(self, url: str, text: str) -> str:
        return f"<a href='{self.esc(url)}'>{self.esc(text)}</a>"


def skipped_sections(manifest: dict[str, Any]) -> list[tuple[str, str, list[str]]]:
    """(section, reason, layers) for each reason a section was not computed, in layer
    order (no layers: a model-wide section).

    Example:
        >>> skipped_sections({"order": ["a", "b"], "layers": {
        ...     "a": {"facts": {}, "ablation": {"skipped": "no labels"}},
        ...     "b": {"ablation": {"skipped": "no labels"}, "examples": {"units": "x"}}},
        ...     "sections": {"weights": {"skipped": "no weights"}}})
        [('ablation', 'no labels', ['a', 'b']), ('weights', 'no weights', [])]
    """
    groups: dict[tuple[str, str], list[str]] = {}
    layers = manifest.get("layers", {})
    for layer in manifest.get("order", list(layers)):
        for name, info in layers.get(layer, {}).items():
            if name != "facts" and isinstance(info, dict) and "skipped" in info:
                groups.setdefault((name, str(info["skipped"])), []).append(layer)
    for name, info in manifest.get("sections", {}).items():
        if isinstance(info, dict) and "skipped" in info:
            groups.setdefault((name, str(info["skipped"])), [])
    return [(name, why, where) for (name, why), where in groups.items()]
