"""The DeepDream section: per layer, a bundled photograph with what the layer sees in it
amplified (Mordvintsev et al. 2015)."""

from __future__ import annotations

from typing import Any

from ...data.photos import photo as load_photo
from ...methods.featvis import visualize
from ..parts import Parted
from . import Section, register_section
from .featvis import tile


@register_section
class Dream(Parted, Section):
    """One part per layer: under torchrun the ranks share the layers."""

    name, title, order = "dream", "DeepDream", 50
    options = {"steps": 64, "photo": "astronaut"}
    needs = ("image_model",)

    def compute_part(self, job: Any, layer: str, part: Any) -> dict[str, Any]:
        steps, photo = job.option("steps", self), job.option("photo", self)
        c, h, w = job.spec.shape
        x = load_photo(photo, size=max(h, w))[:, :h, :w]
        x = x.mean(0, keepdim=True).expand(c, -1, -1) if c != 3 else x
        dream = visualize(job.model, layer, init=x.unsqueeze(0), param="pixel",
                          transforms="none", steps=steps, progress=job.progress)
        return {"dream": dream.display[0], "source": x.cpu()}

    def write_part(self, job: Any, layer: str, part: Any, result: Any) -> dict[str, Any]:
        store = job.store
        image = store.write_png(store.layer_file(layer, self.name), tile(result["dream"]))
        source = store.write_png(store.layer_file(layer, self.name, "source"),
                                 tile(result["source"]))
        return {"image": image, "source": source, "photo": job.option("photo", self)}

    def finish_layer(self, job: Any, layer: str, written: list[Any]) -> dict[str, Any]:
        return written[0]

    def layer_html(self, view: Any, layer: str) -> str:
        entry = view.entry(layer, self.name)
        if not entry or "image" not in entry:
            return ""
        source = entry.get("source", view.store.layer_file(layer, self.name, "source"))
        return (f"{view.heading(self)}<figure>{view.img(source, 'photo')}</figure>"
                f"<figure>{view.img(entry['image'], 'dream')}</figure>")
