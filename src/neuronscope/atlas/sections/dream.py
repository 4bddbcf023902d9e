"""The DeepDream section: per layer, a bundled photograph with what the layer sees in it
amplified (Mordvintsev et al. 2015)."""

from __future__ import annotations

from typing import Any

from ...data.photos import photo as load_photo
from ...methods.featvis import visualize
from . import Section, register_section
from .featvis import tile


@register_section
class Dream(Section):
    name, title, order = "dream", "DeepDream", 50
    options = {"steps": 64, "photo": "astronaut"}
    needs = ("image_model",)

    def compute_layer(self, job: Any, layer: str) -> dict[str, Any]:
        steps, photo = job.option("steps", self), job.option("photo", self)
        c, h, w = job.spec.shape
        x = load_photo(photo, size=max(h, w))[:, :h, :w]
        x = x.mean(0, keepdim=True).expand(c, -1, -1) if c != 3 else x
        dream = visualize(job.model, layer, init=x.unsqueeze(0), param="pixel",
                          transforms="none", steps=steps, progress=job.progress)
        store = job.store
        image = store.write_png(store.layer_file(layer, self.name), tile(dream.display[0]))
        source = store.write_png(store.layer_file(layer, self.name, "source"), tile(x))
        return {"image": image, "source": source, "photo": photo}

    def layer_html(self, view: Any, layer: str) -> str:
        entry = view.entry(layer, self.name)
        if not entry or "image" not in entry:
            return ""
        source = entry.get("source", view.store.layer_file(layer, self.name, "source"))
        return (f"{view.heading(self)}<figure>{view.img(source, 'photo')}</figure>"
                f"<figure>{view.img(entry['image'], 'dream')}</figure>")
