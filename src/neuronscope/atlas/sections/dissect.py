"""The dissect section: network dissection (Bau et al. 2017) of every layer with a channel
axis, in one pass. Each unit gets the concept its top activations overlap most (IoU), its
runners-up and, for a detector, a picture of its top inputs with its region outlined; each
label is checked causally where the model's output holds class scores; per layer, the
rotation control's detectors (the null baseline); for the model, the detectors per layer
and category (the paper's Figure 4). The layer page orders units by IoU when no section
before it gives an order.

Concept data (see `neuronscope.atlas.dissect_data.choose`): the build option ``concepts``
(``"shapes"``, ``"colors:photos"``, a Broden folder ...), else the atlas data's own
concepts (Shapes), else the colours of its pixels; the first ``dissect_n`` inputs.
"""

from __future__ import annotations

import logging
import math
import tempfile
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from ...core.data import run_model
from ...core.model import logits_of
from ...data.concepts import First
from ...methods.dissect import Dissection, dissect, faithfulness
from ...render.dissect import counts, detector_bars
from ..dissect_data import choose, picture
from . import Section, register_section

logger = logging.getLogger(__name__)
NO_POSITIONS = "no channel axis with positions (dissection labels regions of an image)"


@register_section
class Dissect(Section):
    """A pass over the concept data for all layers (thresholds, IoU, the causal check and
    the rotation control), then each detector's picture; the chart of every layer done."""

    name, title, scope, order = "dissect", "Concepts", "pass", 35
    options: dict[str, Any] = {"dissect_n": 2000, "concepts": None}
    needs = ("data",)

    # ------------------------------------------------------------ computing

    def compute_layers(self, job: Any, layers: list[str]) -> None:
        store = job.store
        data, source = choose(job, job.option("concepts", self))
        todo = []
        for layer in layers:
            info = job.infos[layer]
            why = NO_POSITIONS if len(info.shape) != 3 or info.unit_axis != 1 else None
            if data is None or why:
                store.mark(layer, self.name, {"skipped": source if data is None else why})
            else:
                todo.append(layer)
        if not todo:
            return
        data = First(data, job.option("dissect_n", self))
        found = dissect(job.model, data, todo, progress=job.progress, shared=False)  # rank 0
        # alone computes this section under torchrun (it is not a distributed one)
        found, causal = self._causal(job, data, found)
        rotated = dissect(job.model, data, todo, control="rotation", progress=job.progress,
                          shared=False)
        entries = {layer: self._write(job, data, d, rotated[layer], source, causal)
                   for layer, d in found.items()}
        self._chart(job, found, source)  # before the layers are marked: a rerun redraws it
        for layer, entry in entries.items():
            store.mark(layer, self.name, entry)

    def _causal(self, job: Any, data: Any, found: dict[str, Dissection]
                ) -> tuple[dict[str, Dissection], str]:
        """The dissections with the causal check of their detectors, and "" (or, unchecked,
        the reason)."""
        try:
            with torch.no_grad():
                scores = logits_of(run_model(job.model, job.example))
            if scores.dim() != 2 or scores.shape[1] < 2:
                return found, "not run: the model's output holds no class scores"
            return faithfulness(job.model, data, found, progress=job.progress), ""
        except Exception as exc:  # noqa: BLE001 - the labels stand without their check
            logger.warning("dissect: the causal check failed (%s: %s); the labels are kept "
                           "unchecked", type(exc).__name__, exc)
            return found, f"not run: it failed ({type(exc).__name__})"

    def _write(self, job: Any, data: Any, d: Dissection, rotated: Dissection, source: str,
               causal: str) -> dict[str, Any]:
        store, layer = job.store, d.layer
        spec = getattr(data, "spec", None) or job.spec
        pictures = {str(u): store.write_png(
            store.unit_file(self.name, layer, u, "top"),
            picture(job.model, data, layer, u, d.top[u].tolist(), float(d.levels[u]), spec))
            for u in d.detectors}
        n = len(d.thresholds)
        faith, z = (([_num(v) for v in t.tolist()] if t is not None else [None] * n)
                    for t in (d.faithfulness, d.causal_z))
        row = counts({layer: d})[0]
        units = store.write_json(store.units_json(layer, self.name), {
            "source": source, "n": d.n, "quantile": d.quantile,
            "iou_threshold": d.iou_threshold, "concepts": d.concepts, "ious": d.ious,
            "categories": d.categories, "detectors": d.detectors, "faithfulness": faith,
            "z": z, "confirmed": d.confirmed, "causal": causal, "pictures": pictures,
            "runners_up": [d.runners_up(u) for u in range(n)], "counts": row,
            "rotation": len(rotated.detectors)})
        arrays = store.write_result(store.arrays_file(self.name, layer), d)
        return {"units": units, "arrays": arrays, "counts": row,
                "rotation": len(rotated.detectors), "confirmed": len(d.confirmed)}

    def _chart(self, job: Any, found: dict[str, Dissection], source: str) -> None:
        """Figure 4 of the paper for every layer dissected, in the model's order."""
        store, every = job.store, {}
        for layer in store.manifest.get("order", list(store.manifest["layers"])):
            entry = store.manifest["layers"].get(layer, {}).get(self.name, {})
            if layer in found or "arrays" in entry:
                every[layer] = found.get(layer) or Dissection.load(store.path(entry["arrays"]))
        name = str(store.manifest.get("model", {}).get("name") or "model")
        with tempfile.TemporaryDirectory() as tmp:
            drawn = detector_bars(every, Path(tmp) / "chart.png", f"{name}: {source}")
            with Image.open(drawn) as chart:
                store.write_png(store.model_file(self.name, "detectors"), chart.copy())

    # ------------------------------------------------------------ showing

    def unit_html(self, view: Any, layer: str, unit: int) -> str:
        d = view.units(layer, self.name)
        if not d:
            return ""
        concept, iou, thr, esc = d["concepts"][unit], d["ious"][unit], d["iou_threshold"], view.esc
        detector = unit in d["detectors"]
        verdict = (f"a detector (IoU at least {thr:g})" if detector else
                   f"not a detector (IoU below {thr:g}): its best concept, for reference")
        runners = ", ".join(f"{esc(c)} {v:.3f}" for c, v in d["runners_up"][unit])
        file = d["pictures"].get(str(unit))
        shown = view.figure(view.img(file, f"unit {unit}: its top inputs", "dissect"),
                            "its top inputs, the region where it reaches its threshold "
                            "outlined") if file else ""
        return (f"{view.heading(self)}<p class='dissect-label'><b>{esc(concept)}</b>, IoU "
                f"{iou:.3f}: {verdict}.</p><p>{_causal_text(d, unit, detector, esc)}</p>"
                f"<p>runners-up: {runners or 'none'}</p>{shown}<p class='muted'>on "
                f"{d['n']:,} inputs, {esc(d['source'])}; a unit's region: where it is in its "
                f"top {d['quantile']:.1%} of activations.</p>")

    def layer_html(self, view: Any, layer: str) -> str:
        d = view.units(layer, self.name)
        if not d:
            return ""
        row = d["counts"]
        cats = ", ".join(f"{view.esc(c)} {n} ({row['detectors_by_category'][c]} units)"
                         for c, n in row["by_category"].items() if n)
        return (f"{view.heading(self)}<p>{row['detectors']} of {row['units']} units are "
                f"detectors (IoU at least {d['iou_threshold']:g}) of {row['unique']} concepts"
                f"{': ' + cats if cats else ''}; {len(d['confirmed'])} confirmed by silencing "
                f"them; the rotation control (a null baseline) finds {d['rotation']} "
                "detectors.</p>")

    def unit_order(self, view: Any, layer: str) -> tuple[list[int], str, list[str]] | None:
        d = view.units(layer, self.name)
        if not d:
            return None
        ious, detectors = d["ious"], set(d["detectors"])
        order = sorted(range(len(ious)), key=lambda u: (u not in detectors, -ious[u], u))
        notes = [f"{c.split(':', 1)[-1]} {v:.2f}" if u in detectors else ""
                 for u, (c, v) in enumerate(zip(d["concepts"], ious, strict=True))]
        return order, "detectors first, by IoU with their concept", notes

    def model_html(self, view: Any) -> str:
        order = view.manifest.get("order", list(view.manifest["layers"]))
        entries = {n: e for n in order if (e := view.manifest["layers"].get(n, {}).get(self.name))}
        done = {n: e for n, e in entries.items() if "counts" in e}
        if not done:
            kind = view.manifest.get("model", {}).get("spec", {}).get("kind")
            if kind not in (None, "image"):  # text, sound: in the "not computed" list alone
                return ""
            reasons = sorted({e["skipped"] for e in entries.values() if "skipped" in e})
            return (f"{view.heading(self)}<p class='muted'>Not dissected: "
                    f"{view.esc('; '.join(reasons))}.</p>" if reasons else "")
        cats = list(dict.fromkeys(c for e in done.values() for c in e["counts"]["by_category"]))
        head = "".join(f"<th>{view.esc(c)}</th>" for c in cats)
        rows = "".join(
            f"<tr><td>{view.link(view.layer_url(n), n)}</td><td class='num'>{r['units']}</td>"
            f"<td class='num'>{r['detectors']}</td><td class='num'>{r['unique']}</td>"
            + "".join(f"<td class='num'>{r['by_category'].get(c, 0)} "
                      f"({r['detectors_by_category'].get(c, 0)})</td>" for c in cats)
            + f"<td class='num'>{e['rotation']}</td><td class='num'>{e['confirmed']}</td></tr>"
            for n, e in done.items() for r in [e["counts"]])
        chart = view.store.model_file(self.name, "detectors")
        shown = (view.img(chart, "detectors per layer and category", "smooth")
                 if view.store.path(chart).is_file() else "")
        return (f"{view.heading(self)}<p class='muted'>Network dissection (Bau et al. 2017): "
                "a unit detects a concept when the region of its top activations overlaps "
                "the concept's (IoU); per category, unique concepts (detector units); the "
                "rotation control: the detectors of randomly rotated units (a null baseline)."
                "</p>"
                f"<table id='dissect'><tr><th>layer</th><th>units</th><th>detectors</th>"
                f"<th>unique</th>{head}<th>rotation control</th><th>confirmed causally</th></tr>"
                f"{rows}</table>{shown}")


def _num(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 4)


def _causal_text(d: dict[str, Any], unit: int, detector: bool, esc: Any) -> str:
    """The causal check of a unit's label, in words."""
    faith, z = d["faithfulness"][unit], d["z"][unit]
    if d["causal"]:
        return f"causal check {esc(d['causal'])}."
    if not detector:
        return "causal check: only detectors are checked."
    if z is None:
        return ("causal check: not scored: the network's classes hold no evidence for this "
                "concept.")
    share = f"{faith:.1%}" if faith is not None else "an undefined share"
    verdict = "confirmed" if z >= 3 else "not confirmed (z below 3)"
    return (f"causal check: silencing it takes away {share} of the network's evidence for "
            f"{esc(d['concepts'][unit])} where the concept is (z = {z:.1f}): {verdict}.")
