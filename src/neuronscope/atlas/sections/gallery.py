"""The gallery section: a few chosen targets (classes of the output layer, units of any
layer) visualized once for the whole model at its input size, each shown with its target,
its class name and, for a class, the probability the model gives that class when it reads
the saved picture back (the PNG, not the optimized floats).

The build option ``gallery`` lists the targets (``["fc:779", "block12:5"]``; none: the
section is skipped); ``gallery_settings`` overrides `SETTINGS`, the one place that says how
the pictures are made.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import torch
from PIL import Image

from ...core.model import logits_of, model_device
from ...core.recording import record
from ...core.units import Unit
from ...methods.featvis import visualize
from ...render.grid import to_uint8
from . import Section, register_section

# How every gallery picture is made: `visualize(model, targets, **SETTINGS)`, with size None
# meaning the model's input size. Tune here (or per build: gallery_settings={"steps": 512}).
SETTINGS: dict[str, Any] = {"size": None, "preset": "lucid", "steps": 256, "seed": 0}
SKIPPED = ("no gallery targets: give some, e.g. --gallery fc:779 block12:5 (build option "
           "gallery=[...])")


@register_section
class Gallery(Section):
    """Computed once for the model (scope ``"model"``), again when the targets or settings
    asked for change; its page is ``/section/gallery``."""

    name, title, scope, order, page_order = "gallery", "Gallery", "model", 45, 5
    options: dict[str, Any] = {"gallery": (), "gallery_settings": {}}

    # ------------------------------------------------------------ computing

    def asked(self, job: Any) -> tuple[list[str], dict[str, Any]]:
        """The targets and settings this build asks for."""
        targets = [str(Unit.parse(t)) for t in job.option("gallery", self) or ()]
        settings = {**SETTINGS, **(job.option("gallery_settings", self) or {})}
        return targets, json.loads(json.dumps(settings))  # as the manifest keeps them

    def outdated(self, job: Any, entry: dict[str, Any]) -> bool:
        targets, settings = self.asked(job)
        return bool(targets) and (entry.get("targets"), entry.get("settings")) != (
            targets, settings)

    def compute_model(self, job: Any) -> dict[str, Any]:
        targets, settings = self.asked(job)
        spec = job.spec
        if spec is None or spec.kind != "image" or len(spec.shape) != 3:
            return {"skipped": "the model takes no images"}  # whatever the targets
        if not targets:
            return {"skipped": SKIPPED}
        if settings.get("n_starts", 1) != 1:
            raise ValueError("gallery_settings: one picture per target (n_starts 1)")
        size = settings["size"] or tuple(spec.shape[1:])
        vis = visualize(job.model, targets, **{**settings, "size": size},
                        progress=job.progress)
        store, old = job.store, store_files(job.store.manifest["sections"].get(self.name))
        files = []
        for i, target in enumerate(targets):
            tag = f"{i:02d}-" + re.sub(r"[^A-Za-z0-9_.-]+", "-", target)
            files.append(store.write_png(store.model_file(self.name, tag),
                                         Image.fromarray(picture(vis.display[i]))))
        for stale in old - set(files):
            store.path(stale).unlink(missing_ok=True)
        read_back = torch.stack([from_png(store.path(f), spec.value_range) for f in files])
        probs, classes = self._class_probabilities(job, targets, read_back)
        items = []
        for i, target in enumerate(targets):
            item: dict[str, Any] = {"target": target, "file": files[i],
                                    "activation": float(vis.activations[i])}
            unit = Unit.parse(target)
            if probs is not None and unit.layer == classes and unit.pos is None:
                top = int(probs[i].argmax())
                item.update({"class": spec.class_names[unit.channel],
                             "p": float(probs[i, unit.channel]),
                             "top": spec.class_names[top], "top_p": float(probs[i, top])})
            items.append(item)
        return {"targets": targets, "settings": settings, "size": list(size),
                "items": items}

    def _class_probabilities(self, job: Any, targets: list[str], images: torch.Tensor
                             ) -> tuple[torch.Tensor | None, str | None]:
        """The model's softmax on the pictures read back [n, classes], and the layer whose
        units are the classes (the one whose output is the model's output), or Nones."""
        spec = job.spec
        names = spec.class_names or []
        layers = sorted({Unit.parse(t).layer for t in targets})
        x = spec.to_model(images).to(model_device(job.model))
        with torch.no_grad(), record(job.model, layers) as rec:
            out = logits_of(job.model(x))
        if out.dim() != 2 or out.shape[1] != len(names) or not names:
            return None, None
        same = [n for n in layers if rec[n].shape == out.shape and torch.equal(rec[n], out)]
        if not same:
            return None, None
        return out.float().softmax(dim=1).cpu(), same[0]

    # ------------------------------------------------------------ showing

    def _items(self, view: Any) -> list[dict[str, Any]]:
        return view.manifest.get("sections", {}).get(self.name, {}).get("items", [])

    def model_html(self, view: Any) -> str:
        items = self._items(view)
        if not items:
            return ""
        url = view.section_url(self.name)
        thumbs = "".join(f"<a href='{view.esc(url)}'>{view.img(i['file'], i['target'], 'thumb')}"
                         "</a>" for i in items)
        return (f"{view.heading(self)}<div class='gallery-strip'>{thumbs}</div>"
                f"<p><a href='{view.esc(url)}'>the gallery</a>: {len(items)} feature "
                "visualizations of chosen classes and units, made once for the atlas.</p>")

    def model_thumbnail(self, view: Any) -> str | None:
        items = self._items(view)
        if not items:
            return None
        first = items[0]
        caption = f"{first.get('class', 'gallery')} ({first['target']})"
        return view.figure(view.img(first["file"], first["target"], "smooth"), caption)

    def page_html(self, view: Any) -> str:
        entry = view.manifest.get("sections", {}).get(self.name, {})
        items = entry.get("items", [])
        if not items:
            return ""
        s = entry["settings"]
        size = "x".join(map(str, entry.get("size", [])))
        figures = "".join(f"<figure>{view.img(i['file'], i['target'], 'gallery')}"
                          f"<figcaption>{self._caption(view, i)}</figcaption></figure>"
                          for i in items)
        model = str(view.manifest.get("model", {}).get("name") or "model").removeprefix("zoo:")
        return (f"<h1>Gallery <span class='muted'>{view.esc(model)}</span></h1>"
                f"<p class='muted'>Each picture is synthesized from noise to drive one target "
                f"up: a class (its logit) or a unit (its mean over positions). Made with the "
                f"{view.esc(s.get('preset'))} settings, {s.get('steps')} steps, {size} px, "
                f"seed {s.get('seed')}. For a class, p is the probability the model gives it "
                "when it reads the saved PNG back.</p>"
                f"<div class='gallery'>{figures}</div>")

    def _caption(self, view: Any, item: dict[str, Any]) -> str:
        unit = Unit.parse(item["target"])
        link = item["target"]
        if unit.layer in view.manifest.get("layers", {}) and unit.channel is not None:
            link = (f"<a href='{view.esc(view.unit_url(unit.layer, unit.channel))}'>"
                    f"{view.esc(item['target'])}</a>")
        else:
            link = view.esc(link)
        if "class" in item:
            text = (f"{link} <b>{view.esc(item['class'])}</b><br>p = {probability(item['p'])}")
            if item["top"] != item["class"]:
                text += (f" <span class='muted'>(the model's first choice: "
                         f"{view.esc(item['top'])}, {probability(item['top_p'])})</span>")
            return text
        best = ""
        examples = view.units(unit.layer, "examples") if unit.channel is not None else None
        if examples and unit.pos is None and unit.channel < len(examples.get("units", [])):
            top = examples["units"][unit.channel].get("top_values") or []
            if top:
                best = (f"; the dataset's best input: {top[0]:.3g} "
                        f"({view.esc(examples.get('reduce', 'max'))} over positions)")
        return (f"{link}<br><span class='muted'>activation {item['activation']:.3g} "
                f"(mean over positions){best}</span>")


def probability(p: float) -> str:
    """A probability as the gallery shows it: 3 decimals, 6 from 0.999 on (where 3 would
    read 1.000 for any near-certain class).

    Example:
        >>> probability(0.4567), probability(0.99995684), probability(1.0)
        ('0.457', '0.999957', '1.000000')
    """
    return f"{p:.6f}" if p >= 0.999 else f"{p:.3f}"


def picture(image: torch.Tensor) -> np.ndarray:
    """A display-space image [C, H, W] in [0, 1] as 8-bit pixels [H, W, 3] (or [H, W])."""
    pixels = to_uint8(image.permute(1, 2, 0))
    return pixels[..., 0] if pixels.shape[2] == 1 else pixels


def from_png(path: Any, value_range: tuple[float, float]) -> torch.Tensor:
    """A picture written by the gallery, read back as the model's display-space input."""
    with Image.open(path) as image:
        pixels = np.asarray(image, dtype=np.float32) / 255.0
    x = torch.from_numpy(pixels)
    x = x.unsqueeze(0) if x.dim() == 2 else x.permute(2, 0, 1)
    lo, hi = value_range
    return lo + x * (hi - lo)


def store_files(entry: dict[str, Any] | None) -> set[str]:
    """The files a gallery entry of the manifest names."""
    return {i["file"] for i in (entry or {}).get("items", [])}
