"""The weights section: first-layer filters, linear templates and the classifier's
weights, as pictures."""

from __future__ import annotations

from typing import Any

from ...render.weights import weight_pictures
from . import Section, register_section


@register_section
class Weights(Section):
    """The weights worth seeing (`weight_pictures`), drawn once for the model."""

    name, title, scope, order = "weights", "Weights", "model", 10

    def compute_model(self, job: Any) -> dict[str, Any]:
        files, captions = {}, {}
        for info, caption, image in weight_pictures(job.model, list(job.infos.values())):
            files[info.name] = job.store.write_png(
                job.store.model_file(self.name, info.name), image)
            captions[info.name] = caption
        return {**files, "captions": captions}

    def model_html(self, view: Any) -> str:
        entry = dict(view.manifest.get("sections", {}).get(self.name, {}))
        captions = entry.pop("captions", {})
        figures = "".join(view.figure(view.img(f, f"weights of {name}", "weights"),
                                      f"{name}: {captions.get(name, '')}".rstrip(": "))
                          for name, f in entry.items())
        return view.heading(self) + figures if figures else ""

    def model_thumbnail(self, view: Any) -> str | None:
        entry = view.manifest.get("sections", {}).get(self.name, {})
        first = next(((k, v) for k, v in entry.items() if k != "captions"
                      and isinstance(v, str) and v.endswith(".png")), None)
        if first is None:
            return None
        return view.figure(view.img(first[1], f"weights of {first[0]}"), f"{first[0]} weights")
