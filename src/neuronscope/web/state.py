"""What the server's routes share: the atlas, the live probe, the upload limits, and the
lock that keeps two requests from running the model's hooks at once."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from fastapi import HTTPException

from ..atlas.store import AtlasStore
from ..atlas.view import AtlasView
from ..methods.live import LiveProbe


@dataclass
class Microscope:
    store: AtlasStore
    probe: LiveProbe | None
    max_upload: int
    max_pixels: int
    lock: threading.Lock = field(default_factory=threading.Lock)

    def view(self, layer: str | None = None, unit: int | None = None) -> AtlasView:
        """A view of the atlas as it is now (re-read: a build may be adding sections);
        404 for a layer or unit it does not have."""
        view = AtlasView(AtlasStore(self.store.root))
        if layer is not None and layer not in view.manifest["layers"]:
            raise HTTPException(404, f"no layer {layer!r} in this atlas")
        if layer is not None and unit is not None and not 0 <= unit < view.n_units(layer):
            raise HTTPException(404, f"{layer} has units 0-{view.n_units(layer) - 1}")
        return view

    def locked(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        with self.lock:
            return fn(*args, **kwargs)

    def need_probe(self) -> LiveProbe:
        if self.probe is None:
            raise HTTPException(409, "no model: start the server with --model")
        return self.probe
