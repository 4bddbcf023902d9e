"""The DeepDream section: per layer, a bundled photograph with what the layer sees in it
amplified (Mordvintsev et al. 2015), by `neuronscope.methods.deepdream`.

The photo is taken at the model's input size. ``steps`` (an option featvis reads too)
is the total over the octaves, and the step size is `STRENGTH` / steps: more steps
make the same dream more finely, not a stronger one (the default 40 is the original's
4 octaves of 10 steps at 0.01). Octaves are as many (up to 4) as keep the smallest
side at 16 pixels or more. A layer with no spatial map (a linear layer) is skipped.
"""

from __future__ import annotations

import math
from typing import Any

from ...data.photos import photo_for
from ...methods.deepdream import deepdream
from ..parts import Parted
from . import Section, register_section
from .featvis import tile

STRENGTH = 0.4  # lr x total steps: 4 octaves x 10 steps x 0.01, the classic dream
SCALE, SMALLEST, MAX_OCTAVES = 1.4, 16, 4


def octaves_for(h: int, w: int) -> int:
    """How many octaves of `SCALE` keep the smallest side at `SMALLEST` pixels or more.

    Example:
        >>> octaves_for(224, 224), octaves_for(32, 32), octaves_for(16, 16)
        (4, 3, 1)
    """
    fits = 1 + math.floor(math.log(max(min(h, w), 1) / SMALLEST) / math.log(SCALE) + 1e-9)
    return max(1, min(MAX_OCTAVES, fits))


@register_section
class Dream(Parted, Section):
    """One part per layer: under torchrun the ranks share the layers."""

    name, title, order = "dream", "DeepDream", 50
    options = {"steps": 40, "photo": "astronaut"}
    needs = ("image_model",)

    def compute_part(self, job: Any, layer: str, part: Any) -> dict[str, Any]:
        info = job.infos.get(layer)
        if info is not None and len(info.shape) < 2:
            return {"skipped": f"{layer} has no spatial map ({info.kind}, output "
                               f"{tuple(info.shape)}): nothing to dream across positions"}
        steps, photo = job.option("steps", self), job.option("photo", self)
        _, h, w = job.spec.shape
        x = photo_for(photo, job.spec)
        octaves = octaves_for(h, w)
        per_octave = round(steps / octaves)
        dream = deepdream(job.model, x, layer, octaves=octaves, octave_scale=SCALE,
                          steps=per_octave, lr=STRENGTH / max(per_octave * octaves, 1),
                          progress=job.progress)
        lo, hi = job.spec.value_range  # pictures in [0, 1], whatever the model's range
        return {"dream": (dream.images[0] - lo) / (hi - lo), "source": (x.cpu() - lo) / (hi - lo),
                "octaves": octaves,
                "steps": per_octave * octaves}

    def write_part(self, job: Any, layer: str, part: Any, result: Any) -> dict[str, Any]:
        if "skipped" in result:
            return result
        store = job.store
        image = store.write_png(store.layer_file(layer, self.name), tile(result["dream"]))
        source = store.write_png(store.layer_file(layer, self.name, "source"),
                                 tile(result["source"]))
        return {"image": image, "source": source, "photo": job.option("photo", self),
                "octaves": result["octaves"], "steps": result["steps"]}

    def finish_layer(self, job: Any, layer: str, written: list[Any]) -> dict[str, Any]:
        return written[0]

    def layer_html(self, view: Any, layer: str) -> str:
        entry = view.entry(layer, self.name)
        if not entry or "image" not in entry:
            return ""
        source = entry.get("source", view.store.layer_file(layer, self.name, "source"))
        return (f"{view.heading(self)}<figure>{view.img(source, 'photo')}</figure>"
                f"<figure>{view.img(entry['image'], 'dream')}</figure>")
