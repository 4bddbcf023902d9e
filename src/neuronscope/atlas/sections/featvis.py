"""The feature-visualization section: per unit `n_starts` synthetic images that drive it
up and one that drives it down."""

from __future__ import annotations

from typing import Any

import torch

from ...methods.featvis import visualize
from ...render.grid import image_grid
from ..parts import Parted, unit_chunks
from . import Section, register_section


def tile(image: torch.Tensor, side: int = 96) -> Any:
    """One display-space image [C, H, W] drawn at least `side` pixels wide."""
    return image_grid(image.unsqueeze(0), nrow=1, pad=0, scale=max(1, side // image.shape[-1]),
                      normalize=None)


@register_section
class FeatureVisualization(Parted, Section):
    """Computed `unit_batch` units at a time (parts shared among processes)."""

    name, title, order, page_order = "featvis", "Feature visualization", 40, 15
    options = {"steps": 64, "n_starts": 2, "unit_batch": 64}
    needs = ("image_model",)

    def parts(self, job: Any, layer: str) -> list[Any]:
        return unit_chunks(job.infos[layer].n_units, job.option("unit_batch", self))

    def compute_part(self, job: Any, layer: str, part: Any) -> dict[str, Any]:
        steps, n_starts = job.option("steps", self), job.option("n_starts", self)
        targets = [f"{layer}:{u}" for u in range(*part)]
        pos = visualize(job.model, targets, steps=steps, n_starts=n_starts,
                        progress=job.progress)
        neg = visualize(job.model, targets, steps=steps, negative=True, progress=job.progress)
        return {"pos": pos.display, "neg": neg.display,
                "positive": pos.activations.view(len(targets), n_starts).tolist(),
                "negative": neg.activations.tolist()}

    def write_part(self, job: Any, layer: str, part: Any, result: Any) -> dict[str, Any]:
        store, n_starts = job.store, job.option("n_starts", self)
        for i, u in enumerate(range(*part)):
            for s in range(n_starts):
                store.write_png(store.unit_file(self.name, layer, u, f"pos{s}"),
                                tile(result["pos"][i * n_starts + s]))
            store.write_png(store.unit_file(self.name, layer, u, "neg"), tile(result["neg"][i]))
        return {"positive": result["positive"], "negative": result["negative"]}

    def finish_layer(self, job: Any, layer: str, written: list[Any]) -> dict[str, Any]:
        units = job.store.write_json(job.store.units_json(layer, self.name), {
            "n_starts": job.option("n_starts", self), "steps": job.option("steps", self),
            "positive": [a for part in written for a in part["positive"]],
            "negative": [a for part in written for a in part["negative"]]})
        return {"units": units}

    def unit_html(self, view: Any, layer: str, unit: int) -> str:
        fv = view.units(layer, self.name)
        if not fv:
            return ""
        file = view.store.unit_file
        imgs = "".join(view.img(file(self.name, layer, unit, f"pos{s}"), f"start {s}")
                       for s in range(fv["n_starts"]))
        acts = ", ".join(f"{a:.3g}" for a in fv["positive"][unit])
        shape = view.manifest["layers"][layer].get("facts", {}).get("shape", [])
        measure = "its mean over positions" if len(shape) > 1 else "its value"
        weak = (" The optimization did not raise this unit above zero in "
                f"{fv['steps']} steps: its images say little." if max(fv["positive"][unit]) <= 0
                else "")
        return (f"{view.heading(self)}<div class='row'>{imgs}"
                f"{view.img(file(self.name, layer, unit, 'neg'), 'negative')}</div>"
                f"<p class='muted'>Synthetic images from noise. Left: {fv['n_starts']} starts "
                f"that drive the unit up ({measure}: {acts}); right: one that "
                f"drives it down ({fv['negative'][unit]:.3g}). The dataset numbers below are "
                f"per-input maxima, not means.{weak}</p>")

    def thumbnail(self, view: Any, layer: str, unit: int) -> str | None:
        if not view.units(layer, self.name):
            return None
        return view.img(view.store.unit_file(self.name, layer, unit, "pos0"), f"unit {unit}")

    def panel(self, view: Any, layer: str, unit: int) -> dict[str, Any]:
        ok = view.entry(layer, self.name) and "units" in view.entry(layer, self.name)
        url = view.file_url(view.store.unit_file(self.name, layer, unit, "pos0"))
        return {"featvis": url if ok else None}
