"""The inversion section: per layer, a bundled photograph beside its reconstruction from
that layer's representation (Mahendran & Vedaldi 2015), by `neuronscope.methods.invert`:
what the layer keeps of the photo. Early layers keep nearly everything; deep ones the gist.

The photo (option ``photo``, the one DeepDream uses) is taken at the model's input size,
gray for a model that does not take 3 channels. ``invert_steps`` is the optimization's
length (its own name: ``steps`` is featvis's, and the CLI's ``--steps``). The other
settings are `invert`'s defaults (the paper's priors, rescaled to the input size, TV chosen
by the layer's depth) and the seed is fixed, so every process computes the same picture.
Any layer works, conv or linear; where the paper's step size diverges (efficientnet's
logits) it is run again at a tenth of it (the manifest keeps ``lr``); a layer `invert`
refuses is marked skipped with its reason.
The manifest keeps per layer the correlation of the reconstruction with the photo (in the
model's input space) and the normalized distance ``|phi(x') - phi(x)|^2 / |phi(x)|^2``.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

import torch

from ...core.errors import NeuronscopeError
from ...data.photos import photo_for
from ...methods.invert import invert
from ..parts import Parted
from . import Section, register_section
from .featvis import tile

logger = logging.getLogger(__name__)
SIDE = 192  # pictures drawn at least this wide (whole multiples of the input size)
LR = inspect.signature(invert).parameters["lr"].default  # the paper's step size


def _shown(value: float) -> float:
    """A number as the manifest keeps it: 6 significant digits (the same in every run)."""
    return float(f"{value:.6g}")


@register_section
class Inversion(Parted, Section):
    """One part per layer: under torchrun the ranks share the layers."""

    name, title, order = "inversion", "Inversion", 55
    options = {"invert_steps": 200, "photo": "astronaut"}
    needs = ("image_model",)

    def compute_part(self, job: Any, layer: str, part: Any) -> dict[str, Any]:
        info = job.infos.get(layer)
        if info is not None and info.calls > 1:
            return {"skipped": f"{layer} runs {info.calls} times per forward pass: its "
                               "representation of the photo is not one tensor"}
        steps, spec = job.option("invert_steps", self), job.spec
        lo, hi = spec.value_range
        x = photo_for(job.option("photo", self), spec)
        lr = LR
        for attempt in range(2):  # a layer on which the paper's step size diverges (a
            try:                  # classifier's logits, say) gets one tenth of it
                inv = invert(job.model, x, layer, steps=steps, lr=lr, progress=job.progress)
                break
            except NeuronscopeError as exc:
                if attempt == 0 and "diverged" in str(exc):
                    lr /= 10
                    continue
                logger.warning("atlas: cannot invert %s: %s", layer, exc)
                return {"skipped": f"cannot invert {layer}: {exc}"}
        return {"image": (inv.images[0] - lo) / (hi - lo), "source": (x.cpu() - lo) / (hi - lo),
                "correlation": _shown(float(inv.correlation[0])),
                "distance": _shown(float(inv.distance[0])), "steps": steps, "lr": lr}

    def write_part(self, job: Any, layer: str, part: Any, result: Any) -> dict[str, Any]:
        if "skipped" in result:
            return result
        store = job.store
        image = store.write_png(store.layer_file(layer, self.name),
                                tile(result["image"].clamp(0, 1), SIDE))
        source = store.write_png(store.layer_file(layer, self.name, "source"),
                                 tile(torch.as_tensor(result["source"]).clamp(0, 1), SIDE))
        return {"image": image, "source": source, "photo": job.option("photo", self),
                "steps": result["steps"], "lr": result["lr"],
                "correlation": result["correlation"],
                "distance": result["distance"]}

    def finish_layer(self, job: Any, layer: str, written: list[Any]) -> dict[str, Any]:
        return written[0]

    # ------------------------------------------------------------ showing

    def layer_html(self, view: Any, layer: str) -> str:
        entry = view.entry(layer, self.name)
        if not entry:
            return ""
        if "image" not in entry:  # a need the model lacks: said once, on the model page
            why = "" if entry.get("unmet") else entry.get("skipped", "")
            return f"{view.heading(self)}<p class='muted'>{view.esc(why)}</p>" if why else ""
        return (f"{view.heading(self)}"
                f"{view.figure(view.img(entry['source'], 'photo'), entry['photo'])}"
                f"{view.figure(view.img(entry['image'], f'reconstruction from {layer}'), _caption(entry, layer))}"  # noqa: E501
                f"<p class='muted'>{_about(entry)}</p>")

    def model_html(self, view: Any) -> str:
        order = view.manifest.get("order", list(view.manifest["layers"]))
        done = [(n, e) for n in order
                if (e := view.manifest["layers"].get(n, {}).get(self.name)) and "image" in e]
        if not done:
            return ""
        first = done[0][1]
        photo = view.figure(view.img(first["source"], "photo", "thumb"), first["photo"])
        strip = "".join(
            f"<figure><a href='{view.esc(view.layer_url(n))}'>"
            f"{view.img(e['image'], f'{n} reconstruction', 'thumb')}</a><figcaption>"
            f"{view.link(view.layer_url(n), n)}<br>r = {e['correlation']:.2f}</figcaption>"
            "</figure>" for n, e in done)
        return (f"{view.heading(self)}<div class='gallery-strip'>{photo}{strip}</div>"
                f"<p class='muted'>What each layer keeps: {_about(first)}</p>")


def _caption(entry: dict[str, Any], layer: str) -> str:
    return (f"from {layer}: r = {entry['correlation']:.3f}, "
            f"distance {entry['distance']:.3g}")


def _about(entry: dict[str, Any]) -> str:
    return (f"the image found from noise ({entry['steps']} steps, Mahendran &amp; Vedaldi 2015) "
            "whose representation at the layer matches the photo's, with the paper's "
            "natural-image priors. r: its correlation with the photo; distance: "
            "|&phi;(x&prime;) &minus; &phi;(x)|&sup2; / |&phi;(x)|&sup2;, what of the "
            "representation it still misses.")
